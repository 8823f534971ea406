"""Run the OpenAI Agents SDK for JavaScript agent (openai_agents_js/agent.cjs) against the
scripted model's Responses API and write the spans OpenInference's OpenAI Agents JS
instrumentation sent, as one OTLP protobuf request, plus what each ``run`` returned.

    (cd DIR && npm install @openai/agents @arizeai/openinference-instrumentation-openai-agents \\
        zod @opentelemetry/api@1.9.1 @opentelemetry/sdk-trace-base@2 \\
        @opentelemetry/context-async-hooks@2 @opentelemetry/exporter-trace-otlp-proto@0.223)
    python -m tests.frameworks.captured.capture_openai_agents_js DIR/node_modules [OUT] [streamed]

The versions used are written into the expectations file. With ``streamed`` every run is
streamed (``run(..., { stream: true })``) and the files are ``openai_agents_js_streamed.*``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.node_capture import package_versions, run_node_agent
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
PACKAGES = (
    "@openai/agents",
    "@openai/agents-core",
    "@openai/agents-openai",
    "openai",
    "@arizeai/openinference-instrumentation-openai-agents",
)
PARENT_TASK = "[oajs-parent] Ask the converter for 18C."
CHILD_TASK = "[oajs-child] 18C in F?"
LIMIT_TASK = "[oajs-limit] What is the weather in Paris? Keep checking."
MAX_TURNS = 2


def main(node_modules: Path, out: Path, streamed: bool = False) -> None:
    with ScriptedLLM() as llm:
        tasks = S.script(llm, "[oajs]")
        llm.script(PARENT_TASK, [call_tool("ask_converter", {"input": CHILD_TASK}),
                                 answer("The converter says 64.4F.")])  # fmt: skip
        llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
        llm.script(LIMIT_TASK, [], then_repeat=call_tool("get_weather", {"city": "Paris"}))
        returned, request = run_node_agent(
            node_modules,
            HERE / "openai_agents_js" / "agent.cjs",
            [*tasks, PARENT_TASK, LIMIT_TASK],
            llm,
            ["streamed"] if streamed else [],
        )
        served = {
            "success": len(llm.requests_for(tasks[0])),
            "limit": len(llm.requests_for(LIMIT_TASK)),
        }
    expected = {"versions": package_versions(node_modules, PACKAGES), **returned}
    expected["streamed"] = streamed
    expected["success"]["model_calls_served"] = served["success"]
    expected["sub_agent"]["sub_task"] = CHILD_TASK
    expected["limit"].update(max_turns=MAX_TURNS, model_calls_served=served["limit"])
    name = "openai_agents_js_streamed" if streamed else "openai_agents_js"
    (out / f"{name}.otlp").write_bytes(request.SerializeToString())
    (out / f"{name}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(
        Path(sys.argv[1]),
        Path(sys.argv[2]) if len(sys.argv) > 2 else HERE,
        streamed=sys.argv[3:4] == ["streamed"],
    )
