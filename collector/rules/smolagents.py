"""smolagents through openinference-instrumentation-smolagents: its ``final_answer`` tool
is how a run answers, so that call is the run's ``response`` step, not a tool call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, loads

__all__ = ["SCOPES", "step_fields", "derive_run_fields", "TERMINAL_TOOLS"]

SCOPES = frozenset({OI.SMOLAGENTS_SCOPE})
TERMINAL_TOOLS = frozenset({"final_answer"})


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "tool_call" or span.attributes.get(OI.TOOL_NAME) not in TERMINAL_TOOLS:
        return {}
    fields: dict[str, Any] = {"action_type": "response", "tool_name": None}
    call = loads(span.attributes.get(OI.INPUT_VALUE))
    kwargs = call.get("kwargs") if isinstance(call, Mapping) else None
    if isinstance(kwargs, Mapping):
        fields["tool_args"] = dict(kwargs)
    answer = span.attributes.get(OI.OUTPUT_VALUE)
    if answer is None and isinstance(kwargs, Mapping) and "answer" in kwargs:
        answer = kwargs["answer"]
    if answer is not None:
        fields["tool_result"] = as_text(answer)
    return fields


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The answer of a run whose span lacks one (it never ended): its final_answer call."""
    calls = [s for s in own if s.attributes.get(OI.TOOL_NAME) in TERMINAL_TOOLS]
    if not calls:
        return {}
    answer = step_fields(max(calls, key=lambda s: s.start_ns), "tool_call").get("tool_result")
    return {"final_answer": answer} if answer is not None else {}
