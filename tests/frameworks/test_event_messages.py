"""The GenAI message forms read into one chat shape (collector/event_messages.py)."""

from __future__ import annotations

import json

from collector.decode import SpanRecord
from collector.event_messages import model_messages, tool_call_arguments, tool_call_result
from tests.records import span_record


def _span(attributes: dict[str, object], events: list[dict[str, object]]) -> SpanRecord:
    return span_record(name="chat", attributes=attributes, kind=3, events=events)


def test_content_blocks_give_their_text_and_tool_uses_but_a_json_result_stays_whole() -> None:
    blocks = [{"text": "Checking."}, {"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}]
    result = json.dumps([{"id": 1, "city": "Oslo"}])  # a tool's result: no content blocks
    span = _span(
        {},
        [
            {"name": "gen_ai.tool.message", "attributes": {"id": "t0", "content": result}},
            {"name": "gen_ai.choice", "attributes": {"message": json.dumps(blocks)}},
        ],
    )
    assert model_messages(span, "input") == [{"role": "tool", "content": result, "id": "t0"}]
    assert model_messages(span, "output") == [
        {"role": "assistant", "content": "Checking.",
         "tool_calls": [{"id": "t1", "name": "w", "arguments": {}}]},
    ]  # fmt: skip
    assert tool_call_result("t0", [span]) == result
    assert tool_call_arguments("t1", [span]) == {}


def test_attributes_win_over_events_and_old_whole_prompt_attributes_are_read() -> None:
    parts = [{"role": "user", "parts": [{"type": "text", "content": "new"}]}]
    details = {"gen_ai.input.messages": json.dumps([{"role": "user", "content": "event"}])}
    span = _span(
        {"gen_ai.input.messages": json.dumps(parts)},
        [{"name": "gen_ai.client.inference.operation.details", "attributes": details}],
    )
    assert model_messages(span, "input") == [{"role": "user", "content": "new"}]
    old = _span({"gen_ai.prompt": json.dumps([{"role": "user", "content": "old"}])}, [])
    assert model_messages(old, "input") == [{"role": "user", "content": "old"}]
    assert model_messages(old, "output") == []
