"""The collector's HTTP side: OTLP/HTTP ``POST /v1/traces``, ``/healthz`` and the REST API."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from collector import api, api_annotations, api_spans
from collector.api_body_limit import ApiBodyLimit
from collector.bodies_in_flight import COST_PER_BYTE, BodiesInFlight, BodyHold, stall_limit_s
from collector.decode import DecodedRequest, InvalidRequest, decode_json, decode_protobuf
from collector.descriptors import open_files, open_files_limit
from collector.errors import CollectorError
from collector.http_cut_off import RetryWhenCutOff
from collector.process_memory import memory_figures
from collector.redact import Sanitizer
from collector.request_budget import PartsInFlight
from collector.run_id_path import RunIdPath
from collector.schema import SCHEMA_VERSION
from collector.settings import Settings
from collector.sql_sandbox import SandboxLimits, SqlSandbox
from collector.sql_workspace import SqlWorkspace
from collector.store import Overloaded, RunStore, StoreRejected, StoreUnavailable
from collector.verify import verify_connection
from instrumentation import env as E
from instrumentation.security import UNAUTHORIZED_BODY, UNAUTHORIZED_HEADERS, refused

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_OPEN_PATHS = frozenset({"/healthz"})
# Who answers /healthz: `agent-audit up` sets it to know the collector it started
# from another one already on the port; otherwise a fresh id per process.


_GZIP_MAGIC = b"\x1f\x8b"
# A client concatenating compressed chunks makes a few members, not thousands.
_MAX_GZIP_MEMBERS = 1000
_INFLATE_PIECE = 65536
_INFLATE_OUT = 1024 * 1024


class BodyTooLarge(CollectorError):
    """The body, after decompression, passed the configured limit."""


class _Stalled(Exception):
    """A body arrived too slowly while others waited for room: answered retry later,
    and its connection closed (the rest of the body is not waited for)."""

    def __init__(self, refusal: Overloaded) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


# How often a body still arriving looks at the clock and at the budget.
_STALL_TICK_S = 0.5


def _inflate(body: bytes, encoding: str, limit: int, grown: Callable[[int], None]) -> bytes:
    """Undo Content-Encoding, never producing more than ``limit`` bytes (gzip bombs).

    A gzip body may hold several members one after the other (RFC 1952 2.2;
    what concatenating compressed chunks gives): every member is inflated, as
    gzip(1) and Go's reader do, so none is dropped unseen. Bytes after the
    stream that are not another member are an error, not ignored. ``grown`` is
    told the inflated size as it grows (and may raise to stop it)."""
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise BodyTooLarge
        return body
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None:
        raise ValueError(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    view = memoryview(body)
    parts: list[bytes] = []
    size = position = 0
    for _member in range(_MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof:
            # Fed in pieces: what follows a member is copied (unused_data) at most one
            # piece; what a piece inflates to is taken a piece at a time, so the room
            # for it (grown) is asked for before the next piece is made.
            piece: bytes | memoryview = inflater.unconsumed_tail
            if not piece:
                piece = view[position : position + _INFLATE_PIECE]
                if not piece:
                    raise InvalidRequest(f"body is a truncated {encoding} stream")
                position += len(piece)
            try:
                parts.append(inflater.decompress(piece, min(_INFLATE_OUT, limit + 1 - size)))
            except zlib.error as exc:
                raise InvalidRequest(f"body is not valid {encoding}: {exc}") from None
            size += len(parts[-1])
            if size > limit:
                raise BodyTooLarge
            grown(size)
        position -= len(inflater.unused_data)
        if position == len(body):
            break
        if encoding != "gzip" or view[position : position + 2] != _GZIP_MAGIC:
            raise InvalidRequest(
                f"body has {len(body) - position} byte(s) after the end of its {encoding} stream"
            )
    else:
        raise InvalidRequest(f"body has more than {_MAX_GZIP_MEMBERS} gzip members")
    if not size:
        # An empty request is fine uncompressed; compressed, it is a broken client.
        raise InvalidRequest(f"body is {encoding} that inflates to nothing")
    return b"".join(parts)


def _otlp_response(content_type: str, decoded: DecodedRequest | None) -> Response:
    message = ExportTraceServiceResponse()
    # A warning (repaired text) is sent with rejected_spans 0, as OTLP allows.
    if decoded is not None and (decoded.rejected or decoded.error_message):
        message.partial_success.rejected_spans = decoded.rejected
        message.partial_success.error_message = decoded.error_message
    if content_type == JSON:
        return Response(json_format.MessageToJson(message), media_type=JSON)
    return Response(message.SerializeToString(), media_type=PROTOBUF)


def _otlp_error(
    content_type: str, status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    # OTLP/HTTP: error bodies are a google.rpc.Status in the request's encoding.
    body = status_pb2.Status(code=code, message=message)
    if content_type == JSON:
        return Response(json_format.MessageToJson(body), status, headers, media_type=JSON)
    return Response(body.SerializeToString(), status, headers, media_type=PROTOBUF)


def _retry_later(content_type: str, exc: Overloaded) -> Response:
    retry = str(max(1, round(exc.retry_after_s)))
    return _otlp_error(content_type, 503, code_pb2.UNAVAILABLE, str(exc), {"Retry-After": retry})


def _cut_off_answer(request: Request) -> Response:
    message = "the collector is shutting down; retry"
    if request.url.path != "/v1/traces":
        return JSONResponse({"detail": message}, 503, {"Retry-After": "1"})
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return _otlp_error(
        content_type if content_type == PROTOBUF else JSON,
        503,
        code_pb2.UNAVAILABLE,
        message,
        {"Retry-After": "1"},
    )


async def _read_limited(
    request: Request, limit: int, hold: BodyHold, declared: int, cost: int, bodies: BodiesInFlight
) -> bytes:
    """The body, charged to ``hold`` at ``cost`` per byte: its declared length
    before it is read (waiting in turn for room), then as it arrives. Without
    room for it, the rest is read and dropped (so the client gets its answer,
    not a reset connection) and Overloaded raised; so it is too when the body
    still arrives after its stall limit while other requests wait for room.

    Taking the declared length first matters: counted only as they arrived, 48
    senders of 8 MB each filled the room with parts of bodies none of which
    could finish, and were refused in turn (12,890 retries, 262 s for 96
    requests, against 17 and 3 s)."""
    chunks: list[bytes] = []
    size = 0
    refused: Overloaded | None = None
    try:
        await hold.reserve(cost * declared)
    except Overloaded as exc:
        refused = exc
        hold.release()
    loop = asyncio.get_running_loop()
    started = loop.time()

    def stalled() -> bool:
        # Holding room, while others wait for it, and arriving too slowly.
        return (
            refused is None
            and bool(bodies.waiting)
            and (loop.time() - started >= stall_limit_s(size))
        )

    stream = request.stream().__aiter__()
    arriving: asyncio.Future[bytes] | None = None
    try:
        while True:
            if arriving is None:
                arriving = asyncio.ensure_future(stream.__anext__())
            done, _ = await asyncio.wait({arriving}, timeout=_STALL_TICK_S)
            if not done:
                if stalled():
                    raise _Stalled(bodies.note_stalled())
                continue
            try:
                chunk = arriving.result()
            except StopAsyncIteration:
                break
            finally:
                arriving = None
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            if refused is None:
                try:
                    hold.grow_to(cost * size)
                except Overloaded as exc:
                    refused = exc
                    chunks.clear()
                    hold.release()  # what is drained is not held
                    continue
                chunks.append(chunk)
            if stalled():  # a trickle of single bytes is slow too
                raise _Stalled(bodies.note_stalled())
    finally:
        if arriving is not None:
            arriving.cancel()
    if refused is not None:
        raise refused
    return b"".join(chunks)


def create_app(
    store: RunStore,
    settings: Settings,
    sanitizer: Sanitizer | None = None,
    in_flight: PartsInFlight | None = None,
    bodies: BodiesInFlight | None = None,
) -> FastAPI:
    """The FastAPI application serving OTLP/HTTP, health and the query API.

    ``in_flight``: the bound on parts being decoded, ``bodies`` on request bytes
    held, both shared with the gRPC receiver."""
    app = FastAPI(
        title="agent-audit collector",
        description="OTLP/HTTP trace receiver and the query API over agent runs and steps.",
        version="0.1.0",
    )
    app.state.store = store

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # The API's errors are {"detail": "<one line>"}, parameter errors included.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse({"detail": problems}, status_code=400)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        # A read the store cannot serve now (e.g. out of memory at the ceiling): retryable.
        logger.warning("a request could not be served: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    clean = sanitizer or Sanitizer()
    parts = in_flight or settings.parts_in_flight()
    app.state.parts_in_flight = parts
    held_bodies = bodies or settings.bodies_in_flight()
    app.state.bodies_in_flight = held_bodies
    app.state.settings = settings
    # /sql runs in a worker process started at the first query, or at start
    # (AGENT_AUDIT_SQL_COPY_AT_START), with its own copy (collector/sql_sandbox.py).
    sandbox = SqlSandbox(
        store,
        SandboxLimits(
            max_bytes=settings.sql_max_bytes,
            memory_mb=settings.sql_memory_mb,
            temp_mb=settings.sql_temp_mb,
            address_space_mb=settings.sql_address_space_mb,
            copy_wait_s=settings.sql_copy_wait_s,
        ),
        SqlWorkspace(
            settings.sql_copy_dir or SqlWorkspace.default_root(),
            keep_s=settings.sql_copy_keep_days * 86400,
        ),
    )
    app.state.sql_sandbox = sandbox
    app.router.on_shutdown.append(sandbox.close)

    # Inside the token check (added later, so outer): a client without the token
    # gets its 401 before any of its body is read.
    app.add_middleware(ApiBodyLimit, exempt=frozenset({"/v1/traces"}))
    # A quoted run id stays one path segment ("a%2Fb" is the run "a/b").
    app.add_middleware(RunIdPath)

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        authorization = request.headers.get("authorization")
        if refused(settings.token, authorization, open_path=request.url.path in _OPEN_PATHS):
            return JSONResponse(UNAUTHORIZED_BODY, status_code=401, headers=UNAUTHORIZED_HEADERS)
        return await call_next(request)

    # Outermost: a request still running when shutdown's grace runs out answers
    # retry later instead of uvicorn's 500 (collector/http_cut_off.py).
    app.add_middleware(RetryWhenCutOff, answer=_cut_off_answer)

    instance_id = E.INSTANCE_ID.read() or uuid.uuid4().hex

    @app.get("/healthz", summary="Liveness and basic figures")
    def healthz() -> dict[str, object]:
        writer = store.writer_health()
        health: dict[str, object] = {
            # "degraded": acknowledged requests wait in the journal while the writer
            # retries storage trouble (a full disk, a database being reopened).
            "status": "ok" if writer["state"] == "ok" else "degraded",
            "writer": writer,
            "instance_id": instance_id,
            "schema_version": SCHEMA_VERSION,
            "queued_spans": store.queued_spans,
            "committed_spans": store.committed_spans,
            "commits": store.commits,
            "conflict_retries": store.conflict_retries,
            "apply_rate_spans_per_s": round(store.apply_rate),
            # Parts of OTLP requests being decoded and stored (collector/request_budget.py).
            "decoding_parts": parts.held,
            # Bytes of OTLP request bodies held now, and requests refused for want of
            # room since start (collector/bodies_in_flight.py).
            "inflight_bytes": held_bodies.held_bytes,
            "inflight_requests": held_bodies.requests,
            "inflight_refused": held_bodies.refused,
            "inflight_peak_bytes": held_bodies.peak_bytes,
            "inflight_waiting": held_bodies.waiting,
            "inflight_waited": held_bodies.waited,
            "inflight_stalled": held_bodies.stalled,
            # Raised by the writer when storing spans runs out of memory (up to the max).
            "db_memory_limit_mb": store.memory_limit_mb,
            "db_memory_max_mb": store.memory_ceiling_mb,
            "db_memory_used_mb": round(store.memory_used_mb, 1),
            # Descriptors open and the most allowed (collector/descriptors.py).
            "open_files": open_files(),
            "open_files_limit": open_files_limit(),
            # Resident memory, glibc's arena cap, Arrow's pool (collector/process_memory.py).
            "memory": memory_figures(),
        }
        search = getattr(app.state, "search", None)
        if search is not None:
            # Derived data: a failing index (its disk full) degrades q, not ingest.
            health["search_index"] = index = search.health_figures()
            if index["state"] == "failing":
                health["status"] = "degraded"
        lake_status = getattr(store, "lake_status", None)
        if lake_status is not None:
            health["lake"] = lake_status()
        return health

    @app.post(
        "/v1/traces",
        summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)",
        response_class=Response,
    )
    async def export_traces(request: Request) -> Response:
        raw_type = request.headers.get("content-type", "")
        content_type = raw_type.split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            return Response(
                json.dumps(
                    {"detail": f"unsupported Content-Type {raw_type!r}; use {PROTOBUF} or {JSON}"}
                ),
                415,
                media_type=JSON,
            )
        encoding = request.headers.get("content-encoding", "").strip().lower()
        limit = settings.max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared[:30]) > limit:
            # Answered before the body is read: nothing to wait for, or to receive.
            return _otlp_error(
                content_type, 413, code_pb2.RESOURCE_EXHAUSTED, f"body larger than {limit} bytes"
            )
        client = request.client
        with held_bodies.hold(f"{client.host}:{client.port}" if client else "") as hold:
            return await _receive_and_store(request, content_type, encoding, declared, hold)

    async def _receive_and_store(
        request: Request, content_type: str, encoding: str, declared: str, hold: BodyHold
    ) -> Response:
        limit = settings.max_request_bytes
        try:
            expected = int(declared) if declared.isascii() and declared.isdigit() else 0
            cost = COST_PER_BYTE["http-json" if content_type == JSON else "http-protobuf"]
            body = await _read_limited(request, limit, hold, expected, cost, held_bodies)

            def grown(size: int) -> None:
                hold.grow_to(cost * size)

            # On a thread: inflating 16 MB took 190 ms, every other HTTP request
            # (health, API, other exports) waiting while it ran on the event loop.
            body = await run_in_threadpool(_inflate, body, encoding, limit, grown)
            hold.settle(cost * len(body))
        except ClientDisconnect:
            # Gone before its body was in (or cut off: collector/http_deadline.py);
            # nothing was stored and no one is left to answer.
            return Response(status_code=400)
        except BodyTooLarge:
            return _otlp_error(
                content_type, 413, code_pb2.RESOURCE_EXHAUSTED, f"body larger than {limit} bytes"
            )
        except Overloaded as exc:
            return _retry_later(content_type, exc)
        except _Stalled as exc:
            answer = _retry_later(content_type, exc.refusal)
            answer.headers["Connection"] = "close"
            return answer
        except ValueError as exc:
            if isinstance(exc, InvalidRequest):
                return _otlp_error(content_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
            return _otlp_error(content_type, 415, code_pb2.INVALID_ARGUMENT, str(exc))

        def decode_and_store() -> DecodedRequest:
            budget = settings.request_budget
            if content_type == JSON:
                decoded = decode_json(body, budget, parts)
            else:
                decoded = decode_protobuf(body, budget, parts)
            try:
                store.write_spans(clean.apply(decoded.spans))
            finally:
                parts.give(decoded.held_parts)
            return decoded

        try:
            decoded = await run_in_threadpool(decode_and_store)
        except InvalidRequest as exc:
            return _otlp_error(content_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            return _retry_later(content_type, exc)
        except StoreRejected as exc:
            return _otlp_error(content_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        except StoreUnavailable as exc:
            logger.warning("store unavailable; the exporter will retry: %s", exc)
            return _otlp_error(
                content_type, 503, code_pb2.UNAVAILABLE, str(exc), {"Retry-After": "1"}
            )
        return _otlp_response(content_type, decoded)

    @app.get(
        "/verify",
        summary="Walk the hash chain over stored spans and check runs and steps against them",
    )
    def verify(derived: bool = True) -> dict[str, object]:
        # The hash chain is per collector file: verify checks this collector's own.
        return store.read_local(
            lambda cur: verify_connection(cur, derived=derived, key=store.chain_key)
        )

    app.include_router(api.router)
    app.include_router(api_annotations.router)
    app.include_router(api_spans.router)
    app.state.price_book = api_annotations.load_prices(store, settings)
    return app
