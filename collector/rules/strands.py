"""Strands Agents: its own OTel GenAI spans, with the messages as span events
(``gen_ai.user.message``, ``gen_ai.tool.message``, ``gen_ai.choice``). See SPANS.md."""

from __future__ import annotations

from typing import Any

from collector.conventions import genai as G
from collector.conventions import strands as ST
from collector.decode import SpanRecord
from collector.messages import first_user_text, last_text, loads
from collector.rules.common import event_attrs, text_blocks

__all__ = ["SCOPES", "run_fields", "step_fields"]

SCOPES = frozenset({ST.SCOPE})


def run_fields(span: SpanRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for attrs in event_attrs(span, ST.EVENT_USER_MESSAGE):
        task = text_blocks(attrs.get(ST.EVENT_CONTENT))
        if task:
            fields["task"] = task
            break
    choices = event_attrs(span, ST.EVENT_CHOICE)
    if choices:
        fields["final_answer"] = text_blocks(choices[-1].get(ST.EVENT_MESSAGE))
    details = event_attrs(span, ST.EVENT_DETAILS)  # the latest GenAI conventions
    for attrs in details:
        task = first_user_text(attrs.get(G.GEN_AI_INPUT_MESSAGES))
        if task and "task" not in fields:
            fields["task"] = task
        answer = last_text(loads(attrs.get(G.GEN_AI_OUTPUT_MESSAGES)))
        if answer:
            fields["final_answer"] = answer
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "tool_call":
        return {}
    fields: dict[str, Any] = {}
    calls = event_attrs(span, ST.EVENT_TOOL_MESSAGE)
    if calls:
        fields["tool_args"] = loads(calls[0].get(ST.EVENT_CONTENT))
    results = event_attrs(span, ST.EVENT_CHOICE)
    if results:
        fields["tool_result"] = text_blocks(results[-1].get(ST.EVENT_MESSAGE))
    if span.attributes.get(ST.TOOL_STATUS) == "error" and span.status_code != 2:
        fields["error"] = fields.get("tool_result") or "error"
    return fields
