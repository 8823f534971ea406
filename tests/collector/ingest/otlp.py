"""Build OTLP requests from spans made by the real OpenTelemetry SDK, and send them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from bench.reliability.otlp_requests import to_otlp_json

PROTOCOLS = ("grpc", "http-protobuf", "http-json")


def record_spans(
    build: Callable[[Tracer], None], service: str = "test-agent"
) -> list[ReadableSpan]:
    """Run ``build`` against a fresh SDK tracer and return the finished spans."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    build(provider.get_tracer("tests"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def to_request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def export(protocol: str, collector: Any, spans: Sequence[ReadableSpan]) -> None:
    """Send spans to the collector with the real exporter for the protocol; assert success."""
    if protocol == "grpc":
        exporter: Any = GrpcExporter(endpoint=collector.grpc_endpoint, insecure=True, timeout=10)
        result = exporter.export(spans)
        exporter.shutdown()
        assert result is SpanExportResult.SUCCESS
    elif protocol == "http-protobuf":
        exporter = HttpExporter(endpoint=collector.http_endpoint + "/v1/traces", timeout=10)
        result = exporter.export(spans)
        exporter.shutdown()
        assert result is SpanExportResult.SUCCESS
    elif protocol == "http-json":
        body = json.dumps(to_otlp_json(to_request(spans))).encode()
        response = httpx.post(
            collector.http_endpoint + "/v1/traces",
            content=gzip.compress(body),
            headers={"content-type": "application/json", "content-encoding": "gzip"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
    else:
        raise ValueError(protocol)
