"""Start and stop a whole collector: store, OTLP/gRPC and HTTP (OTLP + REST)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from collector.descriptors import watch_accept_failures
from collector.grpc_server import GrpcServer, start_grpc_server
from collector.http_app import create_app
from collector.http_deadline import (
    deadline_protocol,
    shed_idle_connections,
    stop_serving_new_connections,
)
from collector.redact import RedactionPolicy, Sanitizer
from collector.search_index import SearchIndex
from collector.settings import Settings, SettingsError
from collector.sql_sandbox import SqlSandbox
from collector.store import RunStore

__all__ = ["RunningCollector", "open_store", "start_collector"]

logger = logging.getLogger(__name__)


@dataclass
class RunningCollector:
    """A collector serving in this process; ``stop()`` shuts it down cleanly."""

    settings: Settings
    store: RunStore
    grpc_server: GrpcServer
    grpc_port: int
    http_server: uvicorn.Server
    http_thread: threading.Thread
    http_port: int
    search: SearchIndex | None = None
    sql_sandbox: SqlSandbox | None = None

    def stop(self, grace_s: float = 10.0) -> bool:
        """Stop accepting, let requests in flight finish, commit, checkpoint, close.

        Returns False when the final checkpoint failed (the file may be damaged).
        """
        phases: list[str] = []
        began = time.monotonic()

        def phase(name: str) -> None:
            nonlocal began
            now = time.monotonic()
            phases.append(f"{name} {now - began:.1f}s")
            began = now

        grpc_done = self.grpc_server.stop(grace_s)
        self.http_server.should_exit = True
        self.http_thread.join(grace_s + 5)
        grpc_done.wait(grace_s + 5)
        phase(f"servers ({self.store.queued_spans} spans still queued)")
        # The /sql worker (and a copy it may be loading) lets go of its read first.
        if self.sql_sandbox is not None:
            self.sql_sandbox.close()
            phase("sql worker")
        if self.search is not None:
            self.search.close()
            phase("search index")
        self.store.close()
        phase("store commit and checkpoint")
        # A slow shutdown should say where its time went.
        logger.info("shutdown: %s", ", ".join(phases))
        return self.store.clean_shutdown


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it. Without it a kept-alive client (the
    # dashboard, the CLI) waits ~40 ms per request: the response goes out in two
    # writes, Nagle holds the second until the client's delayed ACK of the first.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def open_store(settings: Settings) -> RunStore:
    """The single-file store, or with a lake catalog the scale-out store."""
    options: dict[str, Any] = {
        "max_queued_spans": settings.max_queued_spans,
        "commit_max_spans": settings.commit_max_spans,
        "lost_after_s": settings.lost_after_s,
        "retention_days": settings.retention_days,
        "startup_read_check": settings.startup_read_check,
        "memory_limit_mb": settings.db_memory_mb,
        "memory_ceiling_mb": settings.db_memory_max_mb,
        "threads": settings.db_threads,
        "checkpoint_mb": settings.db_checkpoint_mb,
        "chain_key_path": settings.chain_key_path,
    }
    if settings.lake_catalog is None:
        return RunStore(settings.db_path, **options)
    from collector.lake.store import LakeOptions, LakeStore  # loads the lake extensions

    lake = LakeOptions(
        catalog_dsn=settings.lake_catalog,
        data_path=settings.lake_data_path or "",
        collector_id=settings.collector_id,
        ship_interval_s=settings.lake_ship_interval_s,
        compact_every_s=settings.lake_compact_every_s,
        inline_row_limit=settings.lake_inline_rows,
    )
    return LakeStore(settings.db_path, lake, **options)


class _HttpServer(uvicorn.Server):
    """uvicorn's server, saying clearly when accept runs out of descriptors and
    closing idle connections then (collector/descriptors.py)."""

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        watch_accept_failures(asyncio.get_running_loop(), shed_idle_connections)
        await super().serve(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn tells only the connections open now to finish; one the loop sets
        # up a moment later must not stay kept alive (collector/http_deadline.py).
        stop_serving_new_connections(self.config.http_protocol_class)
        await super().shutdown(sockets)


def start_collector(settings: Settings) -> RunningCollector:
    """Open the store and start both receivers; ports 0 pick free ports."""
    settings.validate()
    try:
        sanitizer = Sanitizer(
            RedactionPolicy.with_extras(
                enabled=settings.redact,
                extra_patterns=settings.redact_patterns,
                extra_keys=settings.redact_keys,
                max_value_bytes=settings.max_attribute_bytes,
                time_budget_s=settings.redact_budget_ms / 1000,
            )
        )
    except ValueError as exc:  # an extra pattern RE2 cannot run in linear time
        raise SettingsError(f"AGENT_AUDIT_REDACT_PATTERNS: {exc}") from None
    store = open_store(settings)
    try:
        in_flight = settings.parts_in_flight()
        bodies = settings.bodies_in_flight()
        grpc_server, grpc_port = start_grpc_server(store, settings, sanitizer, in_flight, bodies)
    except Exception:
        store.close()
        raise
    try:
        sock = _listen(settings.host, settings.http_port)
    except OSError:
        grpc_server.stop(0)
        store.close()
        raise
    http_port = sock.getsockname()[1]
    try:
        app = create_app(store, settings, sanitizer, in_flight, bodies)
    except Exception:  # e.g. the /sql folder is not this user's (sql_workspace.py)
        sock.close()
        grpc_server.stop(0)
        store.close()
        raise
    search = None
    if settings.search_index and str(settings.db_path) != ":memory:":
        index_dir = settings.db_path.with_name(settings.db_path.name + ".search")
        search = SearchIndex(index_dir, store.read)
    app.state.search = search
    config = uvicorn.Config(
        app,
        # A client that never finishes its request is cut off (collector/http_deadline.py).
        http=deadline_protocol(settings.request_timeout_s),
        log_level="warning",
        access_log=False,
        lifespan="off",
        # No endpoint is a websocket: uvicorn's default would import a websockets
        # implementation (~0.7 MB of an idle collector) to upgrade connections nobody asks for.
        ws="none",
        timeout_graceful_shutdown=10,
    )
    http_server = _HttpServer(config)
    thread = threading.Thread(
        target=http_server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
    )
    thread.start()
    while not http_server.started:
        if not thread.is_alive():
            grpc_server.stop(0)
            if search is not None:
                search.close()
            store.close()
            raise RuntimeError("HTTP server failed to start")
        thread.join(0.01)  # uvicorn only sets a flag; returns at once if the thread died
    if settings.sql_copy_at_start:
        app.state.sql_sandbox.start_copy()  # in the background
    return RunningCollector(
        settings=settings,
        store=store,
        grpc_server=grpc_server,
        grpc_port=grpc_port,
        http_server=http_server,
        http_thread=thread,
        http_port=http_port,
        search=search,
        sql_sandbox=app.state.sql_sandbox,
    )
