"""Run one framework's scenarios in a fresh process that exports to a collector over OTLP.

Framework instrumentation is process-wide, so each framework gets its own process, set up
the way a user's agent would be: ``instrumentation.configure`` (the SDK with a batching OTLP
exporter), then ``instrumentation.auto.instrument``. Writes the expectations as JSON to ``--out``.

    python -m tests.frameworks.collector_run pydantic-ai --endpoint http://127.0.0.1:4317 \
        --protocol grpc --out expected.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import importlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from instrumentation import auto, configure, shutdown
from tests.frameworks.offline import refuse_internet
from tests.scripted_llm import ScriptedLLM

# scenario set -> its module, and the instrumentation (auto.instrument name) it runs under
FRAMEWORKS = {
    "pydantic-ai": ("scenarios_pydantic_ai", "pydantic-ai"),
    # pydantic-ai under its other instrumentation versions (InstrumentationSettings(version=N)).
    **{f"pydantic-ai-v{n}": ("scenarios_pydantic_ai", "pydantic-ai") for n in (2, 3, 4, 6)},
    "openai-agents": ("scenarios_openai_agents", "openai-agents"),
    "smolagents": ("scenarios_smolagents", "smolagents"),
    "openai": ("scenarios_openai_loop", "openai"),
    "langgraph": ("scenarios_langgraph", "langchain"),
    "langgraph-openllmetry": ("scenarios_langgraph", "langchain-openllmetry"),
    "strands": ("scenarios_strands", "strands"),
    # Strands under the latest GenAI conventions: messages in operation-details events.
    "strands-latest-semconv": ("scenarios_strands", "strands"),
    "google-adk": ("scenarios_adk", "google-adk"),
}
SCENARIOS = (
    "success",
    "tool_error_recovers",
    "tool_raises",
    "fails",
    "concurrent",
    "nested",
    "nested_deep",
    "one_trace",
    "max_steps",
    "streaming",
    "multi_turn",
    "parallel_tools",
    "structured_output",
    "code_agent",
    "transfer",
    "sequential",
    "handoff",
    "handoff_named",
    "team",
    "prebuilt",
    "max_steps_given_to_run",
    "stop_on_first_tool",
    "return_direct",
    "skip_summarization",
    "cancelled",
    "empty_answer",
    "ctrl_c",
    "garbled_response",
    "interleaved",
    "stopped",
    "dict_tool_result",
    "model_timeout",
)


# Played only when named with --only: their runs need checks of their own.
ON_REQUEST = (
    "supervisor",
    "human_in_the_loop",
    "loop",
    "parallel",
    "fan_out",
    "nested_streamed",
    "output_retry",
    "tool_node_handles_error",
    "subgraph",
    "handoff_and_back",
    "chains",
    # Everyday uses, checked by test_framework_habits.py.
    "no_argument_tool",
    "text_with_tool_call",
    "mixed_at_once",
    "outer_span",
    "streamed_parallel_tools",
    "input_guardrail_trips",
    "output_guardrail_trips",
    "tool_guardrail_rejects",
    "agent_iter",
    "planning",
    "prebuilt_tool_node",
    "tool_callback",
    "sub_agent_fails",
    "model_retried",
    "two_in_one_span",
)
# A scenario module continued in another (each kept to one subject and a readable size).
CONTINUED_IN = {
    "scenarios_langgraph": (
        "scenarios_langgraph_graphs",
        "scenarios_langgraph_habits",
        "scenarios_langchain_chains",
    ),
    "scenarios_openai_agents": ("scenarios_openai_agents_habits",),
    "scenarios_pydantic_ai": ("scenarios_pydantic_ai_habits",),
    "scenarios_smolagents": ("scenarios_smolagents_habits",),
    "scenarios_strands": ("scenarios_strands_habits",),
    "scenarios_adk": ("scenarios_adk_habits",),
}


def _scenarios(framework: str, llm: ScriptedLLM) -> dict[str, Callable[[], Any]]:
    """The framework's scenario functions, ready to call (those needing the LLM get it)."""
    # Import only this framework's module: each framework is slow to import.
    first = FRAMEWORKS[framework][0]
    names = [first, *CONTINUED_IN.get(first, ())]
    modules = [importlib.import_module(f"tests.frameworks.{name}") for name in names]
    # pydantic-ai runs on its own FunctionModel
    needs_llm = FRAMEWORKS[framework][0] != "scenarios_pydantic_ai"
    found: dict[str, Callable[[], Any]] = {}
    for scenario in (*SCENARIOS, *ON_REQUEST):
        fn = next((f for m in modules if (f := getattr(m, scenario, None)) is not None), None)
        if fn is not None:
            found[scenario] = functools.partial(fn, llm) if needs_llm else fn
    return found


def _instrument_pydantic_ai_version(version: int) -> None:
    """Trace pydantic-ai with instrumentation ``version`` instead of its default."""
    from opentelemetry import trace
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    settings: dict[str, Any] = {"tracer_provider": trace.get_tracer_provider(), "version": version}
    Agent.instrument_all(InstrumentationSettings(**settings))


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and write what the collector should show."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("framework", choices=list(FRAMEWORKS))
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    parser.add_argument("--also", nargs="*", default=[], help="auto.instrument these too")
    args = parser.parse_args(argv)
    if args.framework.endswith("-latest-semconv"):
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    logging.basicConfig(level=logging.WARNING)
    refuse_internet()  # the collector and the scripted LLM are on 127.0.0.1; nothing else

    configure(
        endpoint=args.endpoint,
        protocol="grpc" if args.protocol == "grpc" else "http/protobuf",
        service_name=f"fw-{args.framework}",
        cancel_poll_s=None,
        schedule_delay_ms=200,
    )
    wanted = [FRAMEWORKS[args.framework][1], *args.also]
    enabled = auto.instrument(frameworks=wanted)
    if enabled != wanted:
        raise SystemExit(f"could not instrument {args.framework}: enabled {enabled}")
    if args.framework.startswith("pydantic-ai-v"):
        _instrument_pydantic_ai_version(int(args.framework.removeprefix("pydantic-ai-v")))

    llm = ScriptedLLM().start()
    results: list[dict[str, Any]] = []
    try:
        for name, scenario in _scenarios(args.framework, llm).items():
            if name not in (args.only if args.only is not None else SCENARIOS):
                continue
            outcome = scenario()
            if asyncio.iscoroutine(outcome):
                outcome = asyncio.run(outcome)
            runs = outcome if isinstance(outcome, list) else [outcome]
            results.append({"scenario": name, "runs": [dataclasses.asdict(r) for r in runs]})
    finally:
        llm.stop()
        flushed = shutdown(timeout_s=20)
    if not flushed:
        raise SystemExit("spans were not all delivered to the collector")
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"framework": args.framework, "enabled": enabled, "results": results}, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
