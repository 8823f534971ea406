"""Run the Mastra agent (mastra/agent.mjs) against the scripted model and write the spans its
OpenTelemetry exporter sent, as one OTLP protobuf request, plus what ``agent.generate``
returned.

    (cd DIR && npm install @mastra/core @mastra/observability @mastra/otel-exporter \\
        @ai-sdk/openai-compatible zod @opentelemetry/exporter-trace-otlp-proto)
    python -m tests.frameworks.captured.capture_mastra DIR/node_modules

Mastra needs Node 22.13 or later on PATH. The versions used are written into the
expectations file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.node_capture import (
    HERE,
    package_versions,
    run_node_agent,
    write_capture,
)
from tests.scripted_llm import ScriptedLLM, answer, call_tool

PACKAGES = (
    "@mastra/core",
    "@mastra/observability",
    "@mastra/otel-exporter",
    "@ai-sdk/openai-compatible",
)
STREAMED_TASK = "[mastra-stream] What is 18C in F?"


def main(node_modules: Path) -> None:
    versions = package_versions(node_modules, PACKAGES)
    with ScriptedLLM() as llm:
        tasks = S.script(llm, "[mastra]")
        llm.script(STREAMED_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F.")])
        script = HERE / "mastra" / "agent.mjs"
        returned, request = run_node_agent(node_modules, script, [*tasks, STREAMED_TASK], llm)
        calls = {"success": len(llm.requests_for(tasks[0])),
                 "streamed": len(llm.requests_for(STREAMED_TASK))}  # fmt: skip
    for key, count in calls.items():
        returned[key]["model_requests"] = count
    write_capture("mastra", request, {"versions": versions, **returned})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
