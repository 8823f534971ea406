"""Fixtures for the framework tests: the scripted LLM server, and in-memory span capture.

Framework instrumentors are process-wide, so the in-process capture instruments once per
module onto one TracerProvider and hands each test a cleared in-memory exporter. Tests
against the real collector run the scenarios in a subprocess instead (see collector_run.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import auto
from tests.frameworks.offline import refuse_internet
from tests.frameworks.shared_plays import Plays
from tests.scripted_llm import ScriptedLLM


@pytest.fixture(autouse=True)
def offline() -> Iterator[None]:
    """Every framework test runs with connections off the loopback refused."""
    refuse_internet(True)
    try:
        yield
    finally:
        refuse_internet(False)


@pytest.fixture(scope="module")
def scripted_llm() -> Iterator[ScriptedLLM]:
    """A scripted OpenAI-compatible server on 127.0.0.1."""
    with ScriptedLLM() as llm:
        yield llm


class SpanCapture:
    """A tracer provider the frameworks are instrumented onto, and its in-memory exporter."""

    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.provider = provider
        self.exporter = exporter
        self.enabled: list[str] = []

    def spans(self) -> list:  # list[ReadableSpan]
        """The finished spans so far, in start order."""
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)


@pytest.fixture(scope="module")
def instrumented() -> Iterator[SpanCapture]:
    """Every installed framework instrumented onto an in-memory provider, for one module.

    ``openai`` (the client instrumentation) is left out: inside the frameworks it would
    add a second span per model call; the plain client loop is tested against the collector.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "framework-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    capture = SpanCapture(provider, exporter)
    capture.enabled = auto.instrument(
        tracer_provider=provider, frameworks=["pydantic-ai", "openai-agents", "smolagents"]
    )
    try:
        yield capture
    finally:
        auto.uninstrument()
        provider.shutdown()


@pytest.fixture
def capture(instrumented: SpanCapture) -> SpanCapture:
    """The module's capture, emptied for this test."""
    instrumented.exporter.clear()
    return instrumented


@pytest.fixture(scope="session")
def plays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plays]:
    """Scenarios played once per framework and exporter for several tests (shared_plays.py)."""
    shared = Plays(tmp_path_factory.mktemp("plays"))
    try:
        yield shared
    finally:
        shared.close()
