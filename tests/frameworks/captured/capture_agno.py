"""Run Agno (traced by openinference-instrumentation-agno) against the scripted model and
write the spans it exported, as OTLP protobuf, plus what Agno itself returned.

    VENV/bin/python -m tests.frameworks.captured.capture_agno [OUT_DIR]

Needs tests/frameworks/venv_agents/requirements-agno.txt (``bash
scripts/install-framework-venv.sh agno`` builds that virtualenv); the versions used are
written into the expectations file. OUT_DIR defaults to this folder (the committed capture).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agno.agent import Agent
from agno.models.openai import OpenAIChat
from openinference.instrumentation.agno import AgnoInstrumentor

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
PACKAGES = ("agno", "openinference-instrumentation-agno", "opentelemetry-sdk")


def _agent(llm: ScriptedLLM, tools: S.Tools) -> Agent:
    model = OpenAIChat(id="scripted-agno", base_url=llm.base_url, api_key="none", max_retries=0)
    return Agent(name="Weather Agent", model=model, tools=[tools.get_weather, tools.to_fahrenheit])


def _tool_calls(response: Any) -> list[dict[str, Any]]:
    calls = []
    for tool in response.tools or []:
        calls.append(
            {
                "name": tool.tool_name,
                "args": tool.tool_args,
                "error": bool(tool.tool_call_error),
                "result": tool.result,
            }
        )
    return calls


def run_seen(task: str, done: Any, model_calls: int) -> dict[str, Any]:
    """What a finished run returned: its answer, status, tool calls and tokens."""
    return {
        "task": task,
        "answer": done.content,
        "status": str(done.status),
        "tools": _tool_calls(done),
        "input_tokens": done.metrics.input_tokens,
        "output_tokens": done.metrics.output_tokens,
        "model_calls": model_calls,
    }


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[agno]")
        tools = S.Tools()
        done = _agent(llm, tools).run(task)
        expected["success"] = run_seen(task, done, len(llm.requests_for("[agno] ")))
        try:
            failed = _agent(llm, S.Tools()).run(failing)
            expected["fails"] = {
                "task": failing,
                "status": str(failed.status),
                "answer": failed.content,
            }
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}
    capture.write_spans("agno.otlp")
    capture.write_expected("agno.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
