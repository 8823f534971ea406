"""Tool calls that no span traces, told by the messages a model call was sent. Pure.

Some instrumentations trace an agent's model calls but not the tools it runs between them
(openinference-instrumentation-haystack: a Haystack ``Agent`` runs its tools itself). The
tool's call and its result are still in the conversation: the model call that follows was
sent them. A framework's module (collector/rules/) reads them with a hook
``tool_calls_told(span) -> list[ToldCall]`` (collector/told_calls.py), or, for its model
calls another instrumentation traces, ``client_calls_told(span)``; each becomes a
stand-in span, classified and mapped like any tool span (``execute_tool {name}`` with the
GenAI tool keys), which is never stored in ``spans``: re-deriving the stored spans makes
the same ones again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from collector import rules
from collector.decode import SpanRecord
from collector.guarded_mapping import mapped_or_none
from collector.told_calls import DERIVED_FROM, ToldCall
from instrumentation import attributes as A
from instrumentation.attributes import TOOL_SPAN_PREFIX

__all__ = ["told_tool_spans", "source_span_id"]

# Modules reading calls from spans of another scope than theirs: a framework's model calls
# traced by a model client's instrumentor (``client_calls_told(span)``, which tells its own
# framework's calls from the span's content). Not asked for their own scopes' spans.
_CLIENT_MODULES = tuple(m for m in rules.MODULES if hasattr(m, "client_calls_told"))
_CLIENT_READERS = tuple(m.client_calls_told for m in _CLIENT_MODULES)

_STATUS_ERROR = 2
_STEP_APART_NS = 10_000


def told_tool_spans(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """Stand-in tool spans for the tool calls the spans' messages tell."""
    found: list[SpanRecord] = []
    for span in spans:
        module = rules.for_span(span)
        readers = [partial(r, span) for r in _CLIENT_READERS if module not in _CLIENT_MODULES]
        if module is not None and hasattr(module, "tool_calls_told"):
            readers.append(partial(module.tool_calls_told, span))
        calls: list[ToldCall] = []
        for reader in readers:
            calls += mapped_or_none(span, reader) or []
        for index, call in enumerate(calls):
            found.append(_stand_in(span, call, index, len(calls)))
    return found


def source_span_id(span: SpanRecord) -> str | None:
    """The span a stand-in's step points at: the model call whose messages told it, which
    its run is found above (a run's own span told it: none, the stand-in is under it).
    None for a span as received."""
    source = span.attributes.get(DERIVED_FROM)
    if not isinstance(source, str) or source == span.parent_span_id:
        return None
    return source


def _stand_in(source: SpanRecord, call: ToldCall, index: int, count: int) -> SpanRecord:
    # Just before what followed the calls, in their order, so steps sort as they ran (10 µs
    # apart: a step's start is kept to the microsecond, rounded from a float).
    at_ns = max(call.before_ns - (count - index) * _STEP_APART_NS, 1)
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: call.name,
        A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(call.arguments, ensure_ascii=False, default=str),
        DERIVED_FROM: source.span_id,
    }
    if call.call_id:
        attributes[A.GEN_AI_TOOL_CALL_ID] = call.call_id
    if call.result is not None and call.error is None:
        result = call.result
        attributes[A.GEN_AI_TOOL_CALL_RESULT] = (
            result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        )
    digest = hashlib.sha256(f"{source.trace_id}/{source.span_id}/{index}".encode()).hexdigest()
    return replace(
        source,
        span_id=digest[:16],
        parent_span_id=source.span_id if call.in_source else source.parent_span_id,
        name=f"{TOOL_SPAN_PREFIX} {call.name}",
        start_ns=at_ns,
        end_ns=at_ns,
        status_code=_STATUS_ERROR if call.error is not None else 0,
        status_message=call.error or "",
        attributes=attributes,
        events=[],
        links=[],
    )
