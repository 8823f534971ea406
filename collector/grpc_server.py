"""OTLP/gRPC receiver: ``TraceService/Export``."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.auth import token_matches
from collector.decode import InvalidRequest, decode_protobuf
from collector.redact import Sanitizer
from collector.settings import Settings
from collector.store import Overloaded, RunStore, StoreRejected, StoreUnavailable
from instrumentation.security import host_port

__all__ = ["TraceReceiver", "start_grpc_server"]

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"

logger = logging.getLogger(__name__)


def _abort_retryable(context: Any, message: str, retry_after_s: float) -> None:
    # OTLP: UNAVAILABLE is retryable; RetryInfo tells the exporter when.
    # https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-throttling
    retry = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=int(retry_after_s), nanos=int(retry_after_s % 1 * 1e9))
    )
    detail = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    detail.details.add().Pack(retry)
    context.set_trailing_metadata((("grpc-status-details-bin", detail.SerializeToString()),))
    context.abort(grpc.StatusCode.UNAVAILABLE, message)


class TraceReceiver:
    """Decodes, stores, and acknowledges only after the commit.

    Registered with a raw-bytes deserializer so a malformed body is answered
    INVALID_ARGUMENT, as OTLP asks, rather than grpcio's generic INTERNAL.
    """

    def __init__(self, store: RunStore, settings: Settings, sanitizer: Sanitizer) -> None:
        self._store = store
        self._sanitizer = sanitizer
        self._token = settings.token

    def Export(self, request: bytes, context: Any) -> bytes:  # noqa: N802 - OTLP's method name
        if self._token:
            metadata = dict(context.invocation_metadata())
            if not token_matches(self._token, metadata.get("authorization")):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            decoded = decode_protobuf(request)
        except InvalidRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            self._store.write_spans(self._sanitizer.apply(decoded.spans))
        except Overloaded as exc:
            _abort_retryable(context, str(exc), exc.retry_after_s)
        except StoreRejected as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreUnavailable as exc:
            logger.warning("store unavailable; the exporter will retry: %s", exc)
            _abort_retryable(context, str(exc), 1.0)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if decoded.rejected or decoded.error_message:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = decoded.error_message
        return response.SerializeToString()


def start_grpc_server(
    store: RunStore, settings: Settings, sanitizer: Sanitizer
) -> tuple[grpc.Server, int]:
    """Start serving on settings.host:grpc_port; return the server and the bound port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=settings.grpc_workers, thread_name_prefix="otlp-grpc"
        ),
        options=[
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    receiver = TraceReceiver(store, settings, sanitizer)
    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(receiver.Export)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(host_port(settings.host, settings.grpc_port))
    if port == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {settings.host}:{settings.grpc_port}")
    server.start()
    return server, port
