"""Run the LangChain.js agent (langgraph_js/agent.cjs: ``createAgent``, a LangGraph.js graph)
against the scripted model and write the spans OpenInference's LangChain.js instrumentation
sent, as one OTLP protobuf request, plus what each ``agent.invoke`` returned.

    (cd DIR && npm install @langchain/langgraph @langchain/core @langchain/openai langchain \\
        @arizeai/openinference-instrumentation-langchain zod @opentelemetry/api@1.9.1 \\
        @opentelemetry/sdk-trace-base@2 @opentelemetry/context-async-hooks@2 \\
        @opentelemetry/exporter-trace-otlp-proto@0.223)
    python -m tests.frameworks.captured.capture_langgraph_js DIR/node_modules

(The exporter's 0.300 line wants ``@opentelemetry/api`` 1.10, which ``sdk-trace-base`` 2
refuses.) The versions used are written into the expectations file.
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
    "@langchain/langgraph",
    "@langchain/core",
    "@langchain/openai",
    "langchain",
    "@arizeai/openinference-instrumentation-langchain",
)
PARENT_TASK = "[lgjs-parent] Ask the converter for 18C."
CHILD_TASK = "[lgjs-child] 18C in F?"


def main(node_modules: Path) -> None:
    versions = package_versions(node_modules, PACKAGES)
    with ScriptedLLM() as llm:
        tasks = S.script(llm, "[lgjs]")
        llm.script(PARENT_TASK, [call_tool("ask_converter", {"task": CHILD_TASK}),
                                 answer("The converter says 64.4F.")])  # fmt: skip
        llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
        script = HERE / "langgraph_js" / "agent.cjs"
        returned, request = run_node_agent(node_modules, script, [*tasks, PARENT_TASK], llm)
        calls = {"success": len(llm.requests_for(tasks[0]))}
    expected = {"versions": versions, **returned}
    expected["success"]["model_calls_served"] = calls["success"]
    expected["sub_agent"]["sub_task"] = CHILD_TASK
    write_capture("langgraph_js", request, expected)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
