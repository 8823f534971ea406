"""The tool calls a loop's model calls asked for, read from their messages (pure)."""

from __future__ import annotations

import json
from typing import Any

from collector.asked_tools import asked_tool_fields
from collector.decode import SpanRecord


def _call(span_id: str, start_ns: int, attributes: dict[str, Any]) -> SpanRecord:
    return SpanRecord(
        trace_id="a" * 32,
        span_id=span_id,
        parent_span_id="b" * 16,
        name="chat",
        kind=3,
        start_ns=start_ns,
        end_ns=start_ns + 10,
        status_code=1,
        status_message="",
        attributes=attributes,
    )


def _parts(*messages: dict[str, Any]) -> str:
    return json.dumps(list(messages))


USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris and Rome?"}]}
ASKED = {
    "role": "assistant",
    "parts": [
        {"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"type": "tool_call", "id": "c2", "name": "get_weather", "arguments": {"city": "Rome"}},
    ],
}


def test_several_calls_in_one_answer_are_listed_with_their_results_by_id() -> None:
    """Results sent back in another order still meet their calls, by the call's id."""
    first = _call(
        "1" * 16,
        100,
        {"gen_ai.input.messages": _parts(USER), "gen_ai.output.messages": _parts(ASKED)},
    )
    results = [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c2", "response": "rain"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sun"}]},
    ]
    second = _call("2" * 16, 200, {"gen_ai.input.messages": _parts(USER, ASKED, *results)})
    found = asked_tool_fields([first, second])
    assert list(found) == [first.span_id]
    fields = found[first.span_id]
    assert fields["tool_name"] == "get_weather, get_weather"
    assert json.loads(fields["tool_args"]) == [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "Rome"}},
    ]
    assert json.loads(fields["tool_result"]) == ["sun", "rain"]


def test_a_call_the_answer_records_no_tool_for_is_read_from_the_next_request() -> None:
    """OpenLLMetry's indexed keys with no tool calls in the completion and no call ids:
    the assistant message the next call was sent after this call's request names the
    call, the tool message after it is the result; the last call, asking for nothing,
    gets nothing."""
    first = _call("1" * 16, 100, {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Hi"})
    second = _call(
        "2" * 16,
        200,
        {
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Hi",
            "gen_ai.prompt.1.role": "assistant",
            "gen_ai.prompt.1.tool_calls.0.name": "get_time",
            "gen_ai.prompt.1.tool_calls.0.arguments": "{}",
            "gen_ai.prompt.2.role": "tool",
            "gen_ai.prompt.2.content": "12:00",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "It is noon.",
        },
    )
    assert asked_tool_fields([first, second]) == {
        first.span_id: {"tool_name": "get_time", "tool_args": "{}", "tool_result": "12:00"}
    }


def test_a_last_call_asking_for_a_tool_shows_it_without_a_result() -> None:
    """OpenInference's flattened keys: a loop that stopped after the model asked (it
    failed, or ran out of turns) still shows what was asked."""
    prefix = "llm.output_messages.0.message.tool_calls.0.tool_call."
    call = _call(
        "1" * 16,
        100,
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Hi",
            "llm.output_messages.0.message.role": "assistant",
            prefix + "id": "x",
            prefix + "function.name": "get_time",
            prefix + "function.arguments": '{"zone": "UTC"}',
        },
    )
    assert asked_tool_fields([call]) == {
        call.span_id: {"tool_name": "get_time", "tool_args": '{"zone": "UTC"}'}
    }


def _retrying_loop() -> list[SpanRecord]:
    """Three calls of a loop whose model asks for the same tool twice (the first try
    failed), under a call id that repeats from one answer to the next (Gemini numbers
    them per answer)."""
    asked = {
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": "w0", "name": "get_weather", "arguments": {"c": "P"}}
        ],
    }
    sent = [USER]
    calls = []
    for turn, reply in enumerate(["timed out", "sunny", None], start=1):
        calls.append(_call(str(turn) * 16, 100 * turn, {"gen_ai.input.messages": _parts(*sent)}))
        if reply is not None:
            response = {"type": "tool_call_response", "id": "w0", "response": reply}
            sent = [*sent, asked, {"role": "tool", "parts": [response]}]
    return calls


def test_a_result_is_the_one_sent_back_after_the_call_whichever_later_calls_are_known() -> None:
    """The first call's result is the first reply, from the next call or, before that is
    stored, from the one after it; never the reply to a later ask under the same id."""
    first, second, third = _retrying_loop()
    alone = {"tool_name": "get_weather", "tool_args": '{"c": "P"}', "tool_result": "timed out"}
    everything = asked_tool_fields([first, second, third])
    assert everything[first.span_id] == alone
    assert everything[second.span_id]["tool_result"] == "sunny"
    assert asked_tool_fields([first, third]) == {first.span_id: alone}


def test_results_whose_ids_name_no_asked_call_are_matched_in_order() -> None:
    """OpenLLMetry's Responses API spans give each call its item's id (``fc_...``) and its
    result the ``call_id``: no id meets, so the results are the calls' in the order sent."""
    asked = {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "fc_1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            },
            {
                "type": "tool_call",
                "id": "fc_2",
                "name": "get_weather",
                "arguments": {"city": "Rome"},
            },
        ],
    }
    results = [
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sun"}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_2", "response": "rain"}],
        },
    ]
    first = _call(
        "1" * 16,
        100,
        {"gen_ai.input.messages": _parts(USER), "gen_ai.output.messages": _parts(asked)},
    )
    second = _call("2" * 16, 200, {"gen_ai.input.messages": _parts(USER, asked, *results)})
    fields = asked_tool_fields([first, second])[first.span_id]
    assert json.loads(fields["tool_result"]) == ["sun", "rain"]


def test_a_result_sent_as_a_document_is_its_data() -> None:
    """Cohere's v2 chat takes a tool's result as documents; OpenInference flattens one as
    its JSON: the result is the document's data."""
    calls = "llm.input_messages.1.message.tool_calls.0.tool_call."
    document = {"type": "document", "document": {"data": "sunny"}}
    first = _call(
        "1" * 16,
        100,
        {"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "Hi"},
    )
    second = _call(
        "2" * 16,
        200,
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Hi",
            "llm.input_messages.1.message.role": "assistant",
            calls + "id": "c1",
            calls + "function.name": "get_weather",
            calls + "function.arguments": '{"city": "Paris"}',
            "llm.input_messages.2.message.role": "tool",
            "llm.input_messages.2.message.tool_call_id": "c1",
            "llm.input_messages.2.message.content": json.dumps(document),
        },
    )
    assert asked_tool_fields([first, second])[first.span_id]["tool_result"] == "sunny"
