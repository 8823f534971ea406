"""``agent-audit collector``: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import importlib.abc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from collector.descriptors import raise_open_files_limit
from collector.process_memory import apply_process_memory
from collector.server import start_collector
from collector.settings import Settings, SettingsError
from collector.store import StoreOpenError
from instrumentation import env as E
from instrumentation.ports import port_holder, port_in_use
from instrumentation.security import host_port

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, help=f"DuckDB file (default: ${E.DB.name} or ./{E.DB.default})"
    )
    parser.add_argument(
        "--host", help=f"address to bind (default: ${E.HOST.name} or {E.HOST.default})"
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        help=f"OTLP/gRPC port (default {E.GRPC_PORT.default}; 0 picks a free one)",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        help=f"OTLP/HTTP and REST port (default {E.HTTP_PORT.default}; 0 picks a free one)",
    )
    parser.add_argument(
        "--lost-after",
        type=float,
        metavar="SECONDS",
        help="mark a silent running run lost after this long (default 300)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _port_in_use(host: str, grpc_port: int, http_port: int) -> str | None:
    # Checked before the file is opened: one line instead of gRPC's bind traceback.
    for port, role, flag, env in (
        (grpc_port, "OTLP/gRPC", "--grpc-port", "AGENT_AUDIT_GRPC_PORT"),
        (http_port, "OTLP/HTTP and REST API", "--http-port", "AGENT_AUDIT_HTTP_PORT"),
    ):
        if port and port_in_use(host, port):
            holder = port_holder(port)
            by = f" by {holder.describe()}" if holder else ""
            return (
                f"port {port} ({role}) on {host} is in use{by}; choose another with {flag} or {env}"
            )
    return None


class _NoPandas(importlib.abc.MetaPathFinder):
    """Answers ``import pandas`` as if it were not installed."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _without_pandas() -> None:
    """Keep pandas out of the collector process: it never uses it, but DuckDB's
    and pyarrow's Python bindings import it (about 40 MB) on first use when it is
    installed; both treat a failed import as "not installed"."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


def run(args: argparse.Namespace) -> int:
    _without_pandas()
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        overrides: dict[str, object] = {}
        if args.db is not None:
            overrides["db_path"] = args.db
        if args.host is not None:
            overrides["host"] = args.host
        if args.grpc_port is not None:
            overrides["grpc_port"] = args.grpc_port
        if args.http_port is not None:
            overrides["http_port"] = args.http_port
        if args.lost_after is not None:
            overrides["lost_after_s"] = args.lost_after
        settings = settings.with_overrides(**overrides)
        # Before any thread starts (collector/process_memory.py).
        apply_process_memory(settings.malloc_arenas, settings.malloc_mmap_kb)
        # Each connection takes a descriptor: all the system allows (collector/descriptors.py).
        raise_open_files_limit()
        taken = _port_in_use(settings.host, settings.grpc_port, settings.http_port)
        if taken is not None:
            print(f"agent-audit collector: {taken}", file=sys.stderr)
            return 2
        collector = start_collector(settings)
    except (SettingsError, StoreOpenError, OSError) as exc:
        print(f"agent-audit collector: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    host = settings.host
    print(
        f"agent-audit collector ready grpc={host_port(host, collector.grpc_port)} "
        f"http={host_port(host, collector.http_port)} db={settings.db_path}",
        flush=True,
    )
    # Wait in short slices: Python runs a signal handler only on the main thread, and
    # a SIGTERM the kernel delivers to another thread (gRPC's, DuckDB's) does not
    # interrupt a main thread blocked in an untimed wait, which could then sleep on.
    while not stop.wait(_SIGNAL_CHECK_S):
        pass
    print("agent-audit collector stopping: committing what is in flight", flush=True)
    if not collector.stop():
        print("agent-audit collector: the final checkpoint failed; see the log", file=sys.stderr)
        _exit_now(1)
    print("agent-audit collector stopped", flush=True)
    _exit_now(0)
    return 0  # not reached


_SIGNAL_CHECK_S = 0.25


def _exit_now(code: int) -> None:
    """End the process once the store is closed and checkpointed.

    Python's exit would then wait for every worker thread a library still holds
    (a gRPC handler thread whose client vanished mid-call, say); with nothing of
    ours left to flush, such a thread must not keep a stopped collector alive.
    The threads still running are named in the log, for whoever looks.
    """
    lingering = [
        t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    if lingering:
        logging.getLogger(__name__).info("exiting past threads still running: %s", lingering)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
