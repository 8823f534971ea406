"""A plain OpenAI-client tool loop inside agent-audit's own ``agent_run``.

The run and its tool steps come from ``instrumentation``; each chat completion is a
``chat {model}`` span from ``opentelemetry-instrumentation-openai-v2`` nested in the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openai import OpenAI

from instrumentation import agent_run
from tests.frameworks import scenario as S
from tests.scripted_llm import ScriptedLLM

MODEL_NAME = "scripted-loop"
AGENT_NAME = "openai_loop"
MAX_TURNS = 6
FRAMEWORK = S.Framework(marker_prefix="loop", agent_name=AGENT_NAME, model_name=MODEL_NAME)

TOOLS: dict[str, Callable[..., Any]] = {
    "get_weather": S.get_weather_impl,
    "add": S.add_impl,
    "flaky": S.flaky_impl,
}
TOOL_SCHEMAS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    for name in TOOLS
]


def run_loop(llm: ScriptedLLM, task: str) -> str | None:
    """Ask the model, run the tools it calls, until it answers with text."""
    client = OpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
    with agent_run(task, agent_name=AGENT_NAME, model_requested=MODEL_NAME) as run:
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        for _ in range(MAX_TURNS):
            response = client.chat.completions.create(
                model=MODEL_NAME,
                messages=messages,  # type: ignore[arg-type]
                tools=TOOL_SCHEMAS,  # type: ignore[arg-type]
            )
            run.set_model_used(response.model)
            message = response.choices[0].message
            if not message.tool_calls:
                run.finish(final_answer=message.content, status="completed")
                return message.content
            messages.append(message.model_dump(exclude_none=True))
            for tool_call in message.tool_calls:
                name = tool_call.function.name  # type: ignore[union-attr]
                args = json.loads(tool_call.function.arguments or "{}")  # type: ignore[union-attr]
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": tool_call.id,
                        "content": _run_tool(run, name, args, tool_call.id),
                    }
                )
        run.finish(status="max_steps")
        return None


def _run_tool(run: Any, name: str, args: dict[str, Any], call_id: str) -> str:
    """One tool step; a failing tool's error goes back to the model as the result."""
    try:
        with run.step("tool_call", tool_name=name, tool_args=args, tool_call_id=call_id) as step:
            result = str(TOOLS[name](**args))
            step.set_result(result)
            return result
    except Exception as exc:  # recorded on the step by agent_run; the model sees it
        return f"error: {exc}"


def _play(llm: ScriptedLLM, scenario: S.Scenario) -> str | None:
    """Script the model, run the loop on the scenario's task; its answer."""
    llm.script(scenario.marker, scenario.turns)
    return run_loop(llm, scenario.task)


def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    scenario = S.success(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; the loop tells the model, which retries and answers."""
    scenario = S.recovery(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers an error after one tool call: the run raises."""
    scenario = S.model_failure(FRAMEWORK)
    with scenario.expect_failure():  # openai.BadRequestError leaves the run
        _play(llm, scenario)
    return scenario.expected


def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once, one thread each."""
    return S.run_in_threads(count, lambda: success(llm))
