"""The driver the scenario captures share (capture_shapes.py, capture_edges.py,
capture_failures.py): pick the framework named on the command line, run it against the
scripted model into a :class:`Capture`, and write ``<kind>_<framework>`` spans and
expectations. Also what more than one of them sets up the same way."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

__all__ = [
    "CORE",
    "CREWAI_PACKAGES",
    "Framework",
    "LLAMAINDEX_PACKAGES",
    "instrument_crewai",
    "instrument_langchain",
    "main",
    "outcome",
    "run_main",
]

HERE = Path(__file__).parent
# Every capture's versions name these beside the framework's own packages.
CORE = ("openai", "opentelemetry-sdk")
# A framework's packages (their versions go in the expectations) and how it plays the
# scenario: what it returned, by shape.
Framework = tuple[tuple[str, ...], Callable[[Capture, ScriptedLLM], dict[str, Any]]]
# What a framework's capture reports the versions of (its venv holds them).
CREWAI_PACKAGES = (
    "crewai",
    "openinference-instrumentation-crewai",
    "openinference-instrumentation-openai",
)
LLAMAINDEX_PACKAGES = (
    "llama-index-core",
    "llama-index-llms-openai-like",
    "openinference-instrumentation-llama-index",
)


def outcome(task: str, run: Callable[[], Any]) -> dict[str, Any]:
    """What the caller saw of ``run()``: its answer, or what it raised."""
    try:
        return {"task": task, "answer": run(), "raised": None}
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "answer": None, "raised": f"{type(exc).__name__}: {exc}"}


def instrument_langchain(provider: TracerProvider, openllmetry: bool) -> None:
    """LangChain (and so LangGraph) traced by OpenLLMetry's instrumentor or OpenInference's."""
    if openllmetry:
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)
    else:
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument(tracer_provider=provider)


def instrument_crewai(provider: TracerProvider) -> None:
    """CrewAI traced by OpenInference's CrewAI and OpenAI instrumentors; CrewAI's anonymous
    usage telemetry and its hosted tracing, which would reach the internet, off (set before
    the caller imports crewai)."""
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
    from openinference.instrumentation.crewai import CrewAIInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    CrewAIInstrumentor().instrument(tracer_provider=provider)
    OpenAIInstrumentor().instrument(tracer_provider=provider)


def main(
    kind: str,
    frameworks: Mapping[str, Framework],
    argv: Sequence[str] = (),
    *,
    span_limits: SpanLimits | None = None,
    packed: bool = False,
) -> None:
    """``argv`` is ``FRAMEWORK [OUT_DIR]`` (OUT_DIR by default this folder): play that
    framework's scenario and write ``<kind>_<FRAMEWORK>.otlp`` (``.otlp.gz`` when ``packed``)
    and ``.expected.json``, the expectations under ``kind``."""
    if not argv or argv[0] not in frameworks:
        raise SystemExit(f"usage: FRAMEWORK [OUT_DIR], FRAMEWORK one of {', '.join(frameworks)}")
    framework = argv[0]
    out = Path(argv[1]) if len(argv) > 1 else HERE
    packages, play = frameworks[framework]
    capture = Capture(out, (*packages, *CORE), span_limits=span_limits)
    with ScriptedLLM() as llm:
        capture.expected[kind] = play(capture, llm)
    capture.write_spans(f"{kind}_{framework}.otlp" + (".gz" if packed else ""))
    capture.write_expected(f"{kind}_{framework}.expected.json")


def run_main(kind: str, frameworks: Mapping[str, Framework], **options: Any) -> None:
    """:func:`main` on this process's command line."""
    main(kind, frameworks, sys.argv[1:], **options)
