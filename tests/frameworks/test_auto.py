"""instrumentation.auto.instrument: one call, whatever is installed, never failing."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import auto
from tests.frameworks import scenarios_pydantic_ai as pai
from tests.support import require_or_skip


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture(autouse=True)
def clean_state() -> Iterator[None]:
    auto.uninstrument()
    yield
    auto.uninstrument()


# The module each framework needs; CI installs them all (the test extra and .ci/run).
_NEEDS = {"langchain": "langchain_core", "google-adk": "google.adk", "strands": "strands"}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(_NEEDS[name]) is not None
    except (ImportError, ValueError):
        return False


def test_everything_installed_is_enabled() -> None:
    missing = [name for name in _NEEDS if not _installed(name)]
    require_or_skip(not missing, f"{missing} not installed (the test extra and .ci/run do it)")
    provider, _ = _provider()
    assert auto.instrument(tracer_provider=provider) == list(auto.FRAMEWORKS)


def test_a_missing_framework_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes a module unimportable, as if it were not installed.
    for module in ("smolagents", "agents", "langchain_core", "google.adk", "strands"):
        monkeypatch.setitem(sys.modules, module, None)
    provider, _ = _provider()
    assert auto.instrument(tracer_provider=provider) == ["pydantic-ai", "openai"]


def test_an_unknown_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no-such-framework"):
        auto.instrument(frameworks=["no-such-framework"])


def test_spans_go_to_the_latest_provider_and_stop_after_uninstrument() -> None:
    first, first_spans = _provider()
    second, second_spans = _provider()
    assert auto.instrument(tracer_provider=first, frameworks=["pydantic-ai"]) == ["pydantic-ai"]
    assert auto.instrument(tracer_provider=first, frameworks=["pydantic-ai"]) == ["pydantic-ai"]
    asyncio.run(pai.success())
    assert [s.name for s in first_spans.get_finished_spans()].count(
        "invoke_agent weather_agent"
    ) == 1

    assert auto.instrument(tracer_provider=second, frameworks=["pydantic-ai"]) == ["pydantic-ai"]
    asyncio.run(pai.success())
    assert len(second_spans.get_finished_spans()) == 6
    assert len(first_spans.get_finished_spans()) == 6  # nothing new went to the old one

    auto.uninstrument()
    asyncio.run(pai.success())
    assert len(second_spans.get_finished_spans()) == 6
