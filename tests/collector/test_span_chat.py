"""A stored span's model messages as GET /spans adds them (collector/span_chat.py)."""

from __future__ import annotations

import json

from collector.span_chat import span_model_messages


def _texts(read: dict[str, list[dict[str, object]]]) -> tuple[list[object], list[object]]:
    return [m.get("content") for m in read["input"]], [m.get("content") for m in read["output"]]


def test_messages_as_span_events_are_read() -> None:
    span = {
        "name": "chat m",
        "attributes": {"gen_ai.operation.name": "chat"},
        "events": [
            {"name": "gen_ai.user.message", "attributes": {"content": "How warm is Rome?"}},
            {
                "name": "gen_ai.choice",
                "attributes": {"message": json.dumps({"content": "18 C"}), "index": 0},
            },
        ],
    }
    assert _texts(span_model_messages(span)) == (["How warm is Rome?"], ["18 C"])


def test_events_kept_as_one_json_attribute_are_read() -> None:
    """pydantic-ai 1.0 (Logfire-style) keeps the events as a JSON list in ``events``."""
    listed = [
        {"event.name": "gen_ai.user.message", "content": "How warm is Rome?"},
        {"event.name": "gen_ai.choice", "message": {"content": "18 C"}, "index": 0},
    ]
    span = {"name": "chat m", "attributes": {"events": json.dumps(listed)}, "events": []}
    assert _texts(span_model_messages(span)) == (["How warm is Rome?"], ["18 C"])


def test_a_span_without_messages_or_with_odd_values_reads_empty() -> None:
    for span in (
        {},
        {"attributes": None, "events": None},
        {"attributes": {"events": "not json ["}, "events": ["x", 3]},
        {"attributes": {"events": json.dumps({"event.name": 5})}},
    ):
        assert span_model_messages(span) == {"input": [], "output": []}
