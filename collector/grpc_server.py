"""OTLP/gRPC receiver: ``TraceService/Export``."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.auth import token_matches
from collector.bodies_in_flight import COST_PER_BYTE, BodiesInFlight, stall_limit_s
from collector.decode import DecodedRequest, InvalidRequest, decode_protobuf
from collector.redact import Sanitizer
from collector.request_budget import PartsInFlight
from collector.settings import Settings
from collector.store import Overloaded, RunStore, StoreRejected, StoreUnavailable
from instrumentation.security import host_port

__all__ = ["GrpcServer", "TraceReceiver", "start_grpc_server"]

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"

logger = logging.getLogger(__name__)

# The longest a new connection may take to send its HTTP/2 preface (see _server_options).
_HANDSHAKE_TIMEOUT_MS = 10_000
# How often a call waiting for its message looks at the clock and at the budget.
_READ_TICK_S = 0.5


async def _abort_retryable(context: Any, message: str, retry_after_s: float) -> None:
    # OTLP: UNAVAILABLE is retryable; RetryInfo tells the exporter when.
    # https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-throttling
    retry = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=int(retry_after_s), nanos=int(retry_after_s % 1 * 1e9))
    )
    detail = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    detail.details.add().Pack(retry)
    context.set_trailing_metadata((("grpc-status-details-bin", detail.SerializeToString()),))
    await context.abort(grpc.StatusCode.UNAVAILABLE, message)


class TraceReceiver:
    """Decodes, stores, and acknowledges only after the commit.

    Registered with a raw-bytes deserializer so a malformed body is answered
    INVALID_ARGUMENT, as OTLP asks, rather than grpcio's generic INTERNAL; and as
    a client-streaming method (the wire is the same as unary's) so that room
    for the message is taken before it is read: a call refused for want of room
    (collector/bodies_in_flight.py) never has its message gathered, and one
    whose message does not arrive within the request timeout is ended.

    The server is grpcio's asyncio one: a call waiting for its request bytes
    holds no thread. (The thread-pool server gives each call a worker as soon
    as its headers arrive, so a few clients that never finish sending stalled
    every export.) Decoding and the durable write run on ``workers`` threads
    once the whole request is in.
    """

    def __init__(
        self,
        store: RunStore,
        settings: Settings,
        sanitizer: Sanitizer,
        workers: Executor,
        in_flight: PartsInFlight | None = None,
        bodies: BodiesInFlight | None = None,
    ) -> None:
        self._store = store
        self._sanitizer = sanitizer
        self._token = settings.token
        self._budget = settings.request_budget
        self._in_flight = in_flight or settings.parts_in_flight()
        self._workers = workers
        self._bodies = bodies or settings.bodies_in_flight()
        self._read_timeout_s = settings.request_timeout_s
        self._max_request_bytes = settings.max_request_bytes

    async def _read_message(self, context: Any) -> Any:
        """The request message; DEADLINE_EXCEEDED past the request timeout, and
        Overloaded once it has taken too long while other requests wait for room."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Its bytes are seen only once the message is whole: none have arrived till then.
        stall_s = stall_limit_s(0)
        read = asyncio.ensure_future(context.read())
        try:
            while True:
                done, _ = await asyncio.wait({read}, timeout=_READ_TICK_S)
                if done:
                    return read.result()
                waited = loop.time() - started
                if waited >= self._read_timeout_s:
                    # A message that does not come holds room others need: OTLP's
                    # retryable DEADLINE_EXCEEDED for whoever is really sending it.
                    await context.abort(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"the request message did not arrive within {self._read_timeout_s:g} s",
                    )
                if self._bodies.waiting and waited >= stall_s:
                    raise self._bodies.note_stalled()
        finally:
            read.cancel()

    def _decode_and_store(self, request: bytes) -> DecodedRequest:
        decoded = decode_protobuf(request, self._budget, self._in_flight)
        try:
            self._store.write_spans(self._sanitizer.apply(decoded.spans))
        finally:
            self._in_flight.give(decoded.held_parts)
        return decoded

    async def Export(self, requests: Any, context: Any) -> bytes:  # noqa: N802 - OTLP's name
        if self._token:
            metadata = dict(context.invocation_metadata())
            if not token_matches(self._token, metadata.get("authorization")):
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token"
                )
        # The message's memory is held (collector/bodies_in_flight.py) from before it is
        # read until it is stored, or let go at once when there is no room for it.
        hold = self._bodies.hold(context.peer())
        try:
            # Room for the largest message is taken before it is read (grpc core
            # gathers it only once asked to, and never more than the limit), then
            # given back down to the real size: a call never gathers more than it holds.
            await hold.reserve(COST_PER_BYTE["grpc"] * self._max_request_bytes)
            request = await self._read_message(context)
            if not isinstance(request, bytes):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
            hold.settle(COST_PER_BYTE["grpc"] * len(request))
            # Export is unary. Read as a stream, a call may carry more messages:
            # acknowledged after the first, the others were dropped unseen. A unary
            # client half-closes with its message, so this read ends at once.
            if await self._read_message(context) is not grpc.aio.EOF:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "Export is unary: this call sent more than one request message"
                    " (nothing of it was stored)",
                )
        except Overloaded as exc:
            hold.release()
            await _abort_retryable(context, str(exc), exc.retry_after_s)
        except BaseException:
            hold.release()
            raise
        # Let go when the worker is done, even if the call was cancelled meanwhile.
        work = self._workers.submit(self._decode_and_store, request)
        work.add_done_callback(lambda _done: hold.release())
        try:
            decoded = await asyncio.wrap_future(work)
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            await _abort_retryable(context, str(exc), exc.retry_after_s)
        except StoreRejected as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreUnavailable as exc:
            logger.warning("store unavailable; the exporter will retry: %s", exc)
            await _abort_retryable(context, str(exc), 1.0)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if decoded.rejected or decoded.error_message:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = decoded.error_message
        return response.SerializeToString()


class GrpcServer:
    """The asyncio gRPC server on an event loop thread of its own."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._loop = loop
        self._thread = thread
        self._server: grpc.aio.Server | None = None
        self._workers: ThreadPoolExecutor | None = None
        self.port = 0

    def stop(self, grace_s: float | None) -> threading.Event:
        """Stop accepting; calls in flight get ``grace_s`` to finish. The event is set
        once the server, its loop and its workers are gone."""
        done = threading.Event()

        def shut_down() -> None:
            server, loop = self._server, self._loop
            if self._thread.is_alive():
                if server is not None:
                    stopping = asyncio.run_coroutine_threadsafe(server.stop(grace_s), loop)
                    try:
                        stopping.result((grace_s or 0) + 10)
                    except Exception:  # noqa: BLE001 - stopping anyway
                        logger.exception("the gRPC server did not stop cleanly")
                loop.call_soon_threadsafe(loop.stop)
                self._thread.join(10)
            if not self._thread.is_alive():
                loop.close()
            if self._workers is not None:
                self._workers.shutdown(wait=True)
            done.set()

        threading.Thread(target=shut_down, name="otlp-grpc-stop", daemon=True).start()
        return done


def _server_options(settings: Settings) -> list[tuple[str, int]]:
    """grpc core's channel arguments for the server.

    A call whose message never completes, or a connection that never finishes
    its handshake, would otherwise hold a file descriptor for ever (and enough
    of them leave none for anyone else). So every connection is sent GOAWAY at
    an age of 5 times the request timeout (clients reconnect, as they do after
    any GOAWAY) and closed once its calls have had one more timeout to finish.
    """
    timeout_ms = round(settings.request_timeout_s * 1000)
    return [
        ("grpc.max_receive_message_length", settings.max_request_bytes),
        ("grpc.so_reuseport", 0),
        # A client sends its HTTP/2 preface at once: one that has not within 10 s is
        # holding a descriptor, not connecting (out of descriptors, each one counts).
        ("grpc.server_handshake_timeout_ms", min(timeout_ms, _HANDSHAKE_TIMEOUT_MS)),
        ("grpc.max_connection_age_ms", 5 * timeout_ms),
        ("grpc.max_connection_age_grace_ms", timeout_ms),
        # No bandwidth probing: grpc core then grows a stream's window only to read a
        # message it was asked for, so a call waiting for room buffers at most the
        # initial 64 KiB. With probing, each waiting call of a burst of 48 sending
        # 8 MB had megabytes buffered before it was read: +407 MiB against +188 MiB
        # (python -m bench.inflight_flood --kinds grpc); one sender was no slower.
        ("grpc.http2.bdp_probe", 0),
    ]


def start_grpc_server(
    store: RunStore,
    settings: Settings,
    sanitizer: Sanitizer,
    in_flight: PartsInFlight | None = None,
    bodies: BodiesInFlight | None = None,
) -> tuple[GrpcServer, int]:
    """Start serving on settings.host:grpc_port; return the server and the bound port.

    ``in_flight``: the bound on parts being decoded, ``bodies`` on request bytes held,
    both shared with the HTTP receiver."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="otlp-grpc", daemon=True)
    served = GrpcServer(loop, thread)
    thread.start()
    workers = ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="otlp-grpc")

    async def start() -> int:
        server = grpc.aio.server(options=_server_options(settings))
        receiver = TraceReceiver(store, settings, sanitizer, workers, in_flight, bodies)
        handler = grpc.method_handlers_generic_handler(
            _SERVICE, {"Export": grpc.stream_unary_rpc_method_handler(receiver.Export)}
        )
        server.add_generic_rpc_handlers((handler,))
        served._server = server
        port = server.add_insecure_port(host_port(settings.host, settings.grpc_port))
        if port == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {settings.host}:{settings.grpc_port}")
        await server.start()
        return port

    served._workers = workers
    try:
        served.port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    except BaseException:
        served.stop(0).wait(15)
        raise
    return served, served.port
