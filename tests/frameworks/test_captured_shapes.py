"""Shapes a framework's own logs show in one run (captured with capture_shapes.py): the model
asks for two tool calls in one turn, one of them raises and the model asks again, every
answer streamed. Read as the framework returned it: one completed run, each call and each
tool call a step in order, the raising tool a failed step whose result is what the model
was told of it, the streamed calls' tokens counted once. smolagents answers through its
``final_answer`` tool: one more step, the run's ``response``."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import shapes_scenario as S
from tests.frameworks.captured_runs import capture_runs, expected_of, run_steps

# Per capture: the model its steps name (a streamed call under OpenLLMetry records only the
# one asked for; smolagents' and the Agents SDK's OpenInference spans only the one asked
# for) and what the framework told the model of the raising tool.
CAPTURES = {
    "shapes_crewai": ("scripted-shapes-served", f"Error executing tool: {S.WEATHER_ERROR}"),
    "shapes_langgraph": ("scripted-shapes-served", f"Tool error: {S.WEATHER_ERROR}"),
    "shapes_langgraph_openllmetry": ("scripted-shapes", f"Tool error: {S.WEATHER_ERROR}"),
    # The Agents SDK's failure function's text; pydantic-ai's ModelRetry message.
    "shapes_openai_agents": ("scripted-shapes", f"Tool error: {S.WEATHER_ERROR}"),
    "shapes_pydantic_ai": ("scripted-shapes-served", S.WEATHER_ERROR),
    "shapes_smolagents": (
        "scripted-shapes",
        "Error executing tool 'get_weather' with arguments {'city': 'Paris'}: "
        f"TimeoutError: {S.WEATHER_ERROR}\nPlease try again or use another tool",
    ),
}
# The steps of the run in order: smolagents' answer is a final_answer call of its own.
_STEPS = ["think", "tool_call", "tool_call", "think", "tool_call", "think"]
_ANSWER_STEPS = {"shapes_smolagents": ["response"]}


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_parallel_calls_a_raising_tool_and_streamed_answers_read_as_returned(
    module_collector: CollectorHandle, name: str
) -> None:
    model, told = CAPTURES[name]
    expected = expected_of(name)["shapes"]
    assert expected["streamed"] and expected["model_calls"] == len(S.TOKENS)
    run = capture_runs(module_collector, name, 1)[expected["task"]]
    kinds = _STEPS + _ANSWER_STEPS.get(name, [])
    assert run[1:8] == ("weather_agent", "completed", expected["task"], expected["answer"],
                        None, None, len(kinds))  # fmt: skip
    assert run[8:10] == (expected["input_tokens"], expected["output_tokens"])
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == kinds
    assert [(s[6], s[7]) for s in steps if s[0] == "think"] == [(model, n) for n, _ in S.TOKENS]
    tools = [s for s in steps if s[0] == "tool_call"]
    # The two calls of one turn in the order the model asked (Paris, Lyon), then Paris again.
    assert [(s[1], json.loads(s[2]), s[4]) for s in tools] == [
        ("get_weather", {"city": "Paris"}, "error"),
        ("get_weather", {"city": "Lyon"}, "ok"),
        ("get_weather", {"city": "Paris"}, "ok"),
    ]
    assert tools[0][3] == told and S.WEATHER_ERROR in tools[0][5]
    returned = {c["args"]["city"]: c["result"] for c in expected["tools"] if not c["error"]}
    assert [json.loads(s[3]) for s in tools[1:]] == [returned["Lyon"], returned["Paris"]]
