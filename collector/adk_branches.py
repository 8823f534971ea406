"""Google ADK 1.10's ``ParallelAgent``: the spans of each branch put back in their branch.

ADK loses its trace context across a ParallelAgent's branches (SPANS.md): each branch's
first ``call_llm`` sits under the branch's ``agent_run [name]``, but its tool calls and
later model calls are parented to the ParallelAgent's ``agent_run``. Their attributes
still say where they belong: a ``call_llm``'s request carries ADK's identity instruction
(``You are an agent. Your internal name is "north_agent".``) and an ``execute_tool``'s
``gen_ai.tool.call.id`` is a ``function_call`` id of the model call that asked for it.
So a model call naming an agent other than the one whose span it sits under goes under
that agent's span (known from a model call of that agent that sits right), and a tool
call under the model call that asked for it (where ADK puts it when nothing is lost).

Pure: the caller reads the spans and applies the corrected parents wherever a step's run
is looked up (ingest, stored parents, the derivation of a run's fields), so ``rederive``
gives the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from collector.conventions import google_adk as ADK
from collector.decode import SpanRecord
from instrumentation import attributes as A

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "ADK_SPAN_NAMES",
    "AdkSpan",
    "corrected_parents",
    "from_records",
    "in_their_branch",
    "stored_corrections",
]

# ADK's identity instruction, in every LlmAgent's system instruction.
_INTERNAL_NAME = re.compile(r'Your internal name is "([^"]+)"')
# The spans that take part (the rest of ADK's spans keep their parents).
ADK_SPAN_NAMES = (ADK.LLM_SPAN, "execute_tool ")


@dataclass(frozen=True)
class AdkSpan:
    """What the correction needs of one span of ADK's scope."""

    span_id: str
    parent_span_id: str | None
    name: str
    attributes: Mapping[str, object]


def _agent_of_run(name: str) -> str | None:
    if name.startswith(ADK.AGENT_RUN_SPAN) and name.endswith("]"):
        return name[len(ADK.AGENT_RUN_SPAN) : -1]
    return None


def _json(value: object) -> object:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _caller(span: AdkSpan) -> str | None:
    """The agent a model call was made for, from its request's system instruction."""
    request = _json(span.attributes.get(ADK.LLM_REQUEST))
    config = request.get("config") if isinstance(request, dict) else None
    instruction = config.get("system_instruction") if isinstance(config, dict) else None
    found = _INTERNAL_NAME.search(instruction) if isinstance(instruction, str) else None
    return found.group(1) if found else None


def _asked_for(span: AdkSpan) -> list[str]:
    """The function-call ids of a model call's response."""
    response = _json(span.attributes.get(ADK.LLM_RESPONSE))
    content = response.get("content") if isinstance(response, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    ids = []
    for part in parts if isinstance(parts, list) else []:
        call = part.get("function_call") if isinstance(part, dict) else None
        if isinstance(call, dict) and isinstance(call.get("id"), str):
            ids.append(call["id"])
    return ids


def corrected_parents(spans: Iterable[AdkSpan], run_names: Mapping[str, str]) -> dict[str, str]:
    """Span id -> the parent it should have, for the misplaced spans among ``spans`` (one
    trace's ADK model and tool calls). ``run_names``: span id -> span name of the trace's
    ``agent_run [...]`` spans known so far."""
    calls = [s for s in spans if s.name == ADK.LLM_SPAN]
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    callers = {c.span_id: _caller(c) for c in calls}
    # The span of each agent: the parent of a model call of it that sits under it.
    agent_span: dict[str, str] = {}
    for call in calls:
        agent = callers[call.span_id]
        parent = call.parent_span_id
        if agent and parent and _agent_of_run(run_names.get(parent, "")) == agent:
            agent_span.setdefault(agent, parent)
    fixed: dict[str, str] = {}
    for call in calls:
        agent = callers[call.span_id]
        home = agent_span.get(agent) if agent else None
        if home is not None and call.parent_span_id != home:
            fixed[call.span_id] = home
    # A tool call goes under the model call that asked for it, when only one did.
    requester: dict[str, str | None] = {}
    for call in calls:
        for call_id in _asked_for(call):
            requester[call_id] = None if call_id in requester else call.span_id
    for tool in tools:
        tool_call = tool.attributes.get(A.GEN_AI_TOOL_CALL_ID)
        asker = requester.get(tool_call) if isinstance(tool_call, str) else None
        if asker is None or tool.parent_span_id == asker:
            continue
        # Only a tool whose parent is not its model call's run lost its place: ADK puts a
        # tool under the model call that asked for it.
        if fixed.get(asker, _parent_of(calls, asker)) != tool.parent_span_id:
            fixed[tool.span_id] = asker
    return fixed


def _parent_of(calls: list[AdkSpan], span_id: str) -> str | None:
    return next((c.parent_span_id for c in calls if c.span_id == span_id), None)


def in_their_branch(records: list[SpanRecord]) -> list[SpanRecord]:
    """``records`` (one trace's) with the misplaced ADK spans under their corrected parent."""
    spans, runs = from_records(records)
    fixed = corrected_parents(spans, runs) if spans else {}
    if not fixed:
        return records
    return [
        replace(r, parent_span_id=fixed[r.span_id]) if r.span_id in fixed else r for r in records
    ]


def from_records(records: Iterable[object]) -> tuple[list[AdkSpan], dict[str, str]]:
    """The ADK model and tool calls and the ``agent_run`` names among span records."""
    spans: list[AdkSpan] = []
    runs: dict[str, str] = {}
    for record in records:
        if getattr(record, "scope_name", None) != ADK.SCOPE:
            continue
        name = str(getattr(record, "name", ""))
        span_id = str(getattr(record, "span_id", ""))
        if name.startswith(ADK.AGENT_RUN_SPAN):
            runs[span_id] = name
        elif name.startswith(ADK_SPAN_NAMES):
            parent = getattr(record, "parent_span_id", None)
            attributes = getattr(record, "attributes", {})
            spans.append(AdkSpan(span_id, parent, name, attributes))
    return spans, runs


_STORED = f"""
    SELECT span_id, parent_span_id, name, attributes FROM spans
    WHERE trace_id IN (SELECT unnest(?)) AND scope_name = '{ADK.SCOPE}'
      AND (name = '{ADK.LLM_SPAN}' OR name LIKE 'execute_tool %'
           OR name LIKE '{ADK.AGENT_RUN_SPAN}%')
      AND NOT coalesce(json_extract_string(attributes, '$."{A.PENDING}"') = 'true', FALSE)
    ORDER BY trace_id
"""


def stored_corrections(con: duckdb.DuckDBPyConnection, trace_ids: list[str]) -> dict[str, str]:
    """:func:`corrected_parents` for the stored spans of these traces (by span id)."""
    by_trace: dict[str, tuple[list[AdkSpan], dict[str, str]]] = {}
    rows = con.execute(
        _STORED.replace("SELECT span_id", "SELECT trace_id, span_id"), [trace_ids]
    ).fetchall()
    for trace_id, span_id, parent, name, attributes in rows:
        spans, runs = by_trace.setdefault(trace_id, ([], {}))
        if name.startswith(ADK.AGENT_RUN_SPAN):
            runs[span_id] = name
        else:
            parsed = _json(attributes)
            spans.append(AdkSpan(span_id, parent, name, parsed if isinstance(parsed, dict) else {}))
    fixed: dict[str, str] = {}
    for spans, runs in by_trace.values():
        fixed.update(corrected_parents(spans, runs))
    return fixed
