"""A model call made to call a tool (``tool_choice`` naming it, or "required") answers with
that call's arguments: structured output (Instructor, a loop asking for a record). When it
is the run's last call, those arguments are the run's answer; a call free to answer in
text, one that called several tools, or one followed by more calls is no answer. End to
end: Instructor's capture in test_captured_unseen2.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.model_answers import forced_result, last_answer
from tests.frameworks.test_rules import _span

RECORD = '{"city": "Paris", "fahrenheit": 64.4, "sky": "sunny"}'
FORCED_WEATHER = {"type": "function", "function": {"name": "Weather"}}


def _call(tool_choice: Any, calls: list[tuple[str, str]], *, end_ns: int = 2) -> Any:
    """An OpenInference OpenAI call whose request had ``tool_choice`` (None: not given)
    and which answered with ``calls`` (name, arguments)."""
    params: dict[str, Any] = {"model": "scripted"}
    if tool_choice is not None:
        params["tool_choice"] = tool_choice
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.invocation_parameters": json.dumps(params),
        "llm.output_messages.0.message.role": "assistant",
    }
    prefix = "llm.output_messages.0.message.tool_calls"
    for index, (name, arguments) in enumerate(calls):
        attributes[f"{prefix}.{index}.tool_call.id"] = f"call_{index}"
        attributes[f"{prefix}.{index}.tool_call.function.name"] = name
        attributes[f"{prefix}.{index}.tool_call.function.arguments"] = arguments
    return _span("ChatCompletion", "openinference.instrumentation.openai", attributes,
                 span_id=f"{end_ns:016x}", start_ns=end_ns - 1, end_ns=end_ns)  # fmt: skip


@pytest.mark.parametrize(
    "tool_choice",
    [FORCED_WEATHER, "required", {"type": "any"}, {"type": "tool", "name": "Weather"}],
    ids=["named function", "required", "Anthropic any", "Anthropic named"],
)
def test_a_forced_call_answers_with_its_arguments(tool_choice: Any) -> None:
    call = _call(tool_choice, [("Weather", RECORD)])
    assert json.loads(forced_result(call) or "null") == json.loads(RECORD)
    assert json.loads(last_answer([call]) or "null") == json.loads(RECORD)


@pytest.mark.parametrize(
    ("tool_choice", "calls"),
    [
        (None, [("Weather", RECORD)]),
        ("auto", [("Weather", RECORD)]),
        ("required", [("Weather", RECORD), ("Weather", RECORD)]),
        ({"type": "function", "function": {"name": "Other"}}, [("Weather", RECORD)]),
    ],
    ids=["no tool_choice", "auto", "two calls", "another tool named"],
)
def test_a_call_free_to_answer_or_calling_several_tools_is_no_result(
    tool_choice: Any, calls: list[tuple[str, str]]
) -> None:
    assert forced_result(_call(tool_choice, calls)) is None
    assert last_answer([_call(tool_choice, calls)]) is None


def test_only_the_last_call_forced_is_the_answer() -> None:
    """A forced call the loop went on from (its tool run, another call after it) is a step
    of the work, not the result."""
    forced = _call(FORCED_WEATHER, [("Weather", RECORD)], end_ns=2)
    later = _call(None, [("get_weather", '{"city": "Paris"}')], end_ns=4)
    assert last_answer([forced, later]) is None
    assert json.loads(
        last_answer([later, _call(FORCED_WEATHER, [("Weather", RECORD)], end_ns=6)]) or "null"
    ) == json.loads(RECORD)
