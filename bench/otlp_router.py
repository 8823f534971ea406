"""A minimal OTLP/gRPC router by trace id: a documented stand-in for the
OpenTelemetry Collector's ``loadbalancing`` exporter (routing_key: traceID).

The real deployment uses otelcol-contrib with ``otel-config.scale.yaml``; this
machine cannot build or install it (README "Scaling out"), so the scale test
and bench/scale_out.py route through this process instead. It does what the
scale design needs from the exporter, and nothing more:

- every span of a trace goes to the same backend: a consistent-hash ring
  (100 points per backend, CRC-32) over the 16 trace-id bytes;
- a request is split per backend and acknowledged only when every part was
  acknowledged (so an acknowledged span is committed by some collector);
- a part a backend refuses as retryable, or cannot take (connection refused,
  killed), is sent to the next live backend on the ring; a backend that failed
  is skipped for ``down_for_s`` and then tried again.

    python -m bench.otlp_router --listen 127.0.0.1:4317 --backend 127.0.0.1:5317 ...
"""

from __future__ import annotations

import argparse
import bisect
import logging
import signal
import threading
import time
import zlib
from collections import defaultdict
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

__all__ = ["HashRing", "OtlpRouter", "split_by_backend", "start_router"]

logger = logging.getLogger(__name__)
_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_EXPORT = f"/{_SERVICE}/Export"
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
}


class HashRing:
    """Consistent hashing of trace ids onto backends."""

    def __init__(self, backends: list[str], points_per_backend: int = 100) -> None:
        if not backends:
            raise ValueError("at least one backend is needed")
        ring = sorted(
            (zlib.crc32(f"{backend}#{i}".encode()), index)
            for index, backend in enumerate(backends)
            for i in range(points_per_backend)
        )
        self._keys = [k for k, _ in ring]
        self._owners = [o for _, o in ring]
        self.size = len(backends)

    def order(self, trace_id: bytes) -> list[int]:
        """Backends for this trace: the owner first, then the fail-over order."""
        start = bisect.bisect_left(self._keys, zlib.crc32(trace_id)) % len(self._keys)
        seen: list[int] = []
        for offset in range(len(self._owners)):
            owner = self._owners[(start + offset) % len(self._owners)]
            if owner not in seen:
                seen.append(owner)
                if len(seen) == self.size:
                    break
        return seen

    def owner(self, trace_id: bytes) -> int:
        return self.order(trace_id)[0]


def split_by_backend(
    request: trace_service_pb2.ExportTraceServiceRequest,
    route: Any,
) -> dict[int, trace_service_pb2.ExportTraceServiceRequest]:
    """One request per backend, keeping each span's resource and scope."""
    parts: dict[int, trace_service_pb2.ExportTraceServiceRequest] = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            groups: dict[int, list[trace_pb2.Span]] = defaultdict(list)
            for span in scope_spans.spans:
                groups[route(span.trace_id)].append(span)
            for backend, spans in groups.items():
                part = parts.setdefault(backend, trace_service_pb2.ExportTraceServiceRequest())
                rs = part.resource_spans.add()
                rs.resource.CopyFrom(resource_spans.resource)
                rs.schema_url = resource_spans.schema_url
                ss = rs.scope_spans.add()
                ss.scope.CopyFrom(scope_spans.scope)
                ss.schema_url = scope_spans.schema_url
                ss.spans.extend(spans)
    return parts


@dataclass
class _Backend:
    target: str
    channel: grpc.Channel
    export: Any
    down_until: float = 0.0
    sent_spans: int = 0


@dataclass
class RouterStats:
    """Counts for tests and the bench."""

    requests: int = 0
    spans: int = 0
    failovers: int = 0
    refused: int = 0
    per_backend: dict[str, int] = field(default_factory=dict)


class OtlpRouter:
    """The gRPC servicer: split, forward, acknowledge when all parts are."""

    def __init__(
        self,
        backends: list[str],
        *,
        down_for_s: float = 2.0,
        give_up_after_s: float = 30.0,
        forward_timeout_s: float = 30.0,
    ) -> None:
        self._ring = HashRing(backends)
        self._backends = []
        for target in backends:
            channel = grpc.insecure_channel(
                target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
            )
            self._backends.append(_Backend(target, channel, channel.unary_unary(_EXPORT)))
        self._down_for_s = down_for_s
        self._give_up_after_s = give_up_after_s
        self._forward_timeout_s = forward_timeout_s
        self._lock = threading.Lock()
        self.stats = RouterStats()

    def _live(self, order: list[int]) -> int:
        now = time.monotonic()
        for index in order:
            if self._backends[index].down_until <= now:
                return index
        return order[0]  # all look down: try the owner again

    def _route(self, trace_id: bytes) -> int:
        return self._live(self._ring.order(trace_id))

    def Export(self, body: bytes, context: Any) -> bytes:  # noqa: N802 - OTLP's method name
        request = trace_service_pb2.ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except Exception:  # noqa: BLE001 - protobuf's decode errors vary by backend
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "not an ExportTraceServiceRequest")
        deadline = time.monotonic() + self._give_up_after_s
        pending = split_by_backend(request, self._route)
        spans = 0
        while pending:
            failed: list[trace_service_pb2.ExportTraceServiceRequest] = []
            calls = {
                index: self._backends[index].export.future(
                    part.SerializeToString(), timeout=self._forward_timeout_s
                )
                for index, part in pending.items()
            }
            for index, call in calls.items():
                backend = self._backends[index]
                try:
                    call.result()
                except grpc.RpcError as exc:
                    code = exc.code()
                    if code not in _RETRYABLE:
                        context.abort(code, f"{backend.target}: {exc.details()}")
                    backend.down_until = time.monotonic() + self._down_for_s
                    failed.append(pending[index])
                    with self._lock:
                        self.stats.failovers += 1
                    continue
                count = sum(
                    len(ss.spans) for rs in pending[index].resource_spans for ss in rs.scope_spans
                )
                spans += count
                with self._lock:
                    self.stats.per_backend[backend.target] = (
                        self.stats.per_backend.get(backend.target, 0) + count
                    )
            pending = {}
            for part in failed:
                for index, piece in split_by_backend(part, self._route).items():
                    pending.setdefault(
                        index, trace_service_pb2.ExportTraceServiceRequest()
                    ).resource_spans.extend(piece.resource_spans)
            if pending and time.monotonic() > deadline:
                with self._lock:
                    self.stats.refused += 1
                # Parts already acknowledged stay stored; the client's retry
                # resends them and the collectors treat them as the same spans.
                context.abort(grpc.StatusCode.UNAVAILABLE, "no backend took the spans; retry")
        with self._lock:
            self.stats.requests += 1
            self.stats.spans += spans
        return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

    def close(self) -> None:
        for backend in self._backends:
            backend.channel.close()


def start_router(
    listen: str, backends: list[str], *, workers: int = 16, **options: Any
) -> tuple[grpc.Server, OtlpRouter, int]:
    """Serve on ``listen`` (host:port, port 0 = free); returns the bound port."""
    router = OtlpRouter(backends, **options)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
    )
    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(router.Export)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    server.start()
    return server, router, port


def main() -> None:
    parser = argparse.ArgumentParser(description="OTLP/gRPC router by trace id")
    parser.add_argument("--listen", default="127.0.0.1:4317")
    parser.add_argument("--backend", action="append", required=True, help="host:port (repeat)")
    parser.add_argument("--down-for-s", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    server, router, port = start_router(args.listen, args.backend, down_for_s=args.down_for_s)
    print(f"routing on port {port} to {', '.join(args.backend)}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(5).wait()
    router.close()


if __name__ == "__main__":
    main()
