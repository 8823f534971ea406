"""Real loopback servers that record what the instrumentation sends.

``RecordingHttpServer``: OTLP/HTTP ``POST /v1/traces`` (protobuf) and the
collector API's ``GET /agent/cancel-requests``. ``RecordingGrpcServer``: the
OTLP ``TraceService/Export`` method. Both keep every request they accepted.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, decoded from OTLP protobuf."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    service_name: str | None

    @property
    def pending(self) -> bool:
        return bool(self.attributes.get("agent_audit.pending"))


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def decode_spans(payload: bytes) -> list[ReceivedSpan]:
    """Every span of an OTLP/protobuf ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest.FromString(payload)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        attributes={kv.key: _any_value(kv.value) for kv in span.attributes},
                        service_name=resource.get("service.name"),
                    )
                )
    return spans


@dataclass
class _Recorded:
    payloads: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    cancel_polls: list[dict[str, list[str]]] = field(default_factory=list)
    cancel_headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Recorder:
    def __init__(self) -> None:
        self.recorded = _Recorded()

    @property
    def payloads(self) -> list[bytes]:
        with self.recorded.lock:
            return list(self.recorded.payloads)

    @property
    def headers(self) -> list[dict[str, str]]:
        with self.recorded.lock:
            return list(self.recorded.headers)

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        return [span for payload in self.payloads for span in decode_spans(payload)]


class RecordingHttpServer(_Recorder):
    """OTLP/HTTP receiver and cancel-request API on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        self.status = 200  # what POST /v1/traces answers
        self.cancel_requests: dict[str, dict[str, Any]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if self.path != "/v1/traces":
                    self._answer(404, b"{}", "application/json")
                    return
                if server.status != 200:
                    self._answer(server.status, b"", "application/x-protobuf")
                    return
                try:
                    ExportTraceServiceRequest.FromString(body)
                except DecodeError:
                    self._answer(400, b"", "application/x-protobuf")
                    return
                with server.recorded.lock:
                    server.recorded.payloads.append(body)
                    server.recorded.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = ExportTraceServiceResponse().SerializeToString()
                self._answer(200, reply, "application/x-protobuf")

            def do_GET(self) -> None:  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/agent/cancel-requests":
                    self._answer(404, b'{"detail": "not found"}', "application/json")
                    return
                query = urllib.parse.parse_qs(url.query)
                with server.recorded.lock:
                    server.recorded.cancel_polls.append(query)
                    server.recorded.cancel_headers.append(
                        {k.lower(): v for k, v in self.headers.items()}
                    )
                    found = [
                        server.cancel_requests[run_id]
                        for run_id in query.get("run_id", [])
                        if run_id in server.cancel_requests
                    ]
                self._answer(200, json.dumps({"requests": found}).encode(), "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def request_cancel(self, run_id: str, *, by: str, reason: str) -> None:
        """Make the API report a cancel request for ``run_id``."""
        with self.recorded.lock:
            self.cancel_requests[run_id] = {
                "run_id": run_id,
                "requested_at": "2025-01-01T00:00:00Z",
                "requested_by": by,
                "reason": reason,
            }

    @property
    def cancel_polls(self) -> list[dict[str, list[str]]]:
        with self.recorded.lock:
            return list(self.recorded.cancel_polls)

    @property
    def cancel_headers(self) -> list[dict[str, str]]:
        with self.recorded.lock:
            return list(self.recorded.cancel_headers)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class RecordingGrpcServer(_Recorder):
    """OTLP/gRPC ``TraceService/Export`` on 127.0.0.1, recording raw request bytes."""

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        recorded = self.recorded

        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            with recorded.lock:
                recorded.payloads.append(request)
                recorded.headers.append(dict(context.invocation_metadata()))
            return ExportTraceServiceResponse().SerializeToString()

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.url = f"http://127.0.0.1:{self.port}"
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)
