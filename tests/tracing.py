"""Point ``instrumentation`` (process-wide) at a test collector, the way an agent would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import instrumentation
from instrumentation.pending import PendingSpanProcessor
from tests.conftest import CollectorHandle


@contextmanager
def traced_to(collector: CollectorHandle, service_name: str) -> Iterator[TracerProvider]:
    """A provider exporting over gRPC with live pending copies; shut down when the block ends."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True, timeout=10)
    provider.add_span_processor(
        PendingSpanProcessor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    )
    instrumentation.shutdown(0)
    instrumentation.configure(
        tracer_provider=provider, api_url=collector.api_url, cancel_poll_s=0.1
    )
    try:
        yield provider
    finally:
        instrumentation.shutdown(2)
        # Bounded: the SDK's shutdown can wait on an exporter retrying a stopped collector.
        closer = threading.Thread(target=provider.shutdown, daemon=True)
        closer.start()
        closer.join(10)
