"""Fixtures for the instrumentation tests: in-memory spans, recording servers, clean state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from instrumentation.pending import PendingSpanProcessor
from tests.instrumentation.recording import RecordingGrpcServer, RecordingHttpServer


class Spans:
    """Finished spans of an in-memory provider, split into real and pending ones."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(PendingSpanProcessor(SimpleSpanProcessor(self.exporter)))

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def real(self) -> list[ReadableSpan]:
        return [s for s in self.all() if not (s.attributes or {}).get("agent_audit.pending")]

    def pending(self) -> list[ReadableSpan]:
        return [s for s in self.all() if (s.attributes or {}).get("agent_audit.pending")]

    def named(self, name: str) -> ReadableSpan:
        matches = [s for s in self.real() if s.name == name]
        assert len(matches) == 1, f"{len(matches)} real spans named {name!r}: {self.names()}"
        return matches[0]

    def names(self) -> list[str]:
        return [s.name for s in self.real()]


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    """Every test starts and ends unconfigured."""
    instrumentation.shutdown(timeout_s=5)
    yield
    instrumentation.shutdown(timeout_s=5)


@pytest.fixture
def spans() -> Iterator[Spans]:
    """agent-audit's spans land in memory (cancel polling off)."""
    recorded = Spans()
    instrumentation.configure(tracer_provider=recorded.provider, cancel_poll_s=None)
    yield recorded
    instrumentation.shutdown()
    recorded.provider.shutdown()


@pytest.fixture
def http_server() -> Iterator[RecordingHttpServer]:
    server = RecordingHttpServer()
    yield server
    server.stop()


@pytest.fixture
def grpc_server() -> Iterator[RecordingGrpcServer]:
    server = RecordingGrpcServer()
    yield server
    server.stop()
