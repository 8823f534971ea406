"""Google ADK 1.10's ``ParallelAgent``: the spans of each branch put back in their branch.

ADK loses its trace context across a ParallelAgent's branches (SPANS.md): each branch's
first ``call_llm`` sits under the branch's ``agent_run [name]``, but its tool calls and
later model calls are parented to the ParallelAgent's ``agent_run``. Their attributes
still say where they belong: a ``call_llm``'s request carries ADK's identity instruction
(``You are an agent. Your internal name is "north_agent".``) and an ``execute_tool``'s
``gen_ai.tool.call.id`` is a ``function_call`` id of the model call that asked for it.
So a model call naming an agent other than the one whose span it sits under goes under
the one run of that agent that span holds (the ParallelAgent's ``agent_run`` holds its
branches'), and a tool call under the model call that asked for it (where ADK puts it
when nothing is lost). An agent taking turns (a ``LoopAgent``'s) keeps each turn's calls.

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
from collector.nearest_runs import NearestRuns, SpanKey
from instrumentation import attributes as A

if TYPE_CHECKING:
    import duckdb

    from collector.run_links import StoredParents

__all__ = [
    "ADK_SPAN_NAMES",
    "AdkSpan",
    "corrected_parents",
    "from_records",
    "in_their_branch",
    "replace_corrected_steps",
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


def corrected_parents(
    spans: Iterable[AdkSpan], run_spans: Mapping[str, tuple[str, str | None]]
) -> dict[str, str]:
    """Span id -> the parent it should have, for the misplaced spans among ``spans`` (one
    trace's ADK model and tool calls). ``run_spans``: span id -> (name, parent span id) of
    the trace's ``agent_run [...]`` spans known so far."""
    calls = [s for s in spans if s.name == ADK.LLM_SPAN]
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    # Each agent's runs, by the span they sit under.
    runs_under: dict[tuple[str, str], list[str]] = {}
    for span_id, (name, parent) in run_spans.items():
        agent = _agent_of_run(name)
        if agent and parent:
            runs_under.setdefault((agent, parent), []).append(span_id)
    fixed: dict[str, str] = {}
    for call in calls:
        agent = _caller(call)
        parent = call.parent_span_id
        if not agent or not parent or _agent_of_run(run_spans.get(parent, ("", None))[0]) == agent:
            continue
        # A call under a span that holds a run of its agent (the ParallelAgent's, holding
        # the branches) is that run's.
        homes = runs_under.get((agent, parent), [])
        if len(homes) == 1:
            fixed[call.span_id] = homes[0]
    # A tool call goes under the model call that asked for it, when only one did.
    askers: dict[str, list[tuple[str, str | None]]] = {}
    for call in calls:
        for call_id in _asked_for(call):
            askers.setdefault(call_id, []).append((call.span_id, _caller(call)))
    for tool in tools:
        tool_call = tool.attributes.get(A.GEN_AI_TOOL_CALL_ID)
        found = askers.get(tool_call, []) if isinstance(tool_call, str) else []
        # Models reuse call ids across agents (``call_0_0``): a tool naming its agent was
        # asked for by that agent's call, not by another agent's that happens to be
        # stored alone so far (an AgentTool's own agent asks with the same id).
        named = tool.attributes.get(A.GEN_AI_AGENT_NAME)
        if isinstance(named, str) and named:
            found = [(span_id, caller) for span_id, caller in found if caller in (named, None)]
        asker = found[0][0] if len(found) == 1 else None
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


def from_records(
    records: Iterable[object],
) -> tuple[list[AdkSpan], dict[str, tuple[str, str | None]]]:
    """The ADK model and tool calls and the ``agent_run`` names among span records."""
    spans: list[AdkSpan] = []
    runs: dict[str, tuple[str, str | None]] = {}
    for record in records:
        if getattr(record, "scope_name", None) != ADK.SCOPE:
            continue
        name = str(getattr(record, "name", ""))
        span_id = str(getattr(record, "span_id", ""))
        parent = getattr(record, "parent_span_id", None)
        if name.startswith(ADK.AGENT_RUN_SPAN):
            runs[span_id] = (name, parent)
        elif name.startswith(ADK_SPAN_NAMES):
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


def stored_corrections(
    con: duckdb.DuckDBPyConnection, trace_ids: list[str]
) -> dict[SpanKey, SpanKey]:
    """:func:`corrected_parents` for the stored spans of these traces, by (trace id,
    span id)."""
    by_trace: dict[str, tuple[list[AdkSpan], dict[str, tuple[str, str | None]]]] = {}
    rows = con.execute(
        _STORED.replace("SELECT span_id", "SELECT trace_id, span_id"), [trace_ids]
    ).fetchall()
    for trace_id, span_id, parent, name, attributes in rows:
        spans, runs = by_trace.setdefault(trace_id, ([], {}))
        if name.startswith(ADK.AGENT_RUN_SPAN):
            runs[span_id] = (name, parent)
        else:
            parsed = _json(attributes)
            spans.append(AdkSpan(span_id, parent, name, parsed if isinstance(parsed, dict) else {}))
    fixed: dict[SpanKey, SpanKey] = {}
    for trace_id, (spans, runs) in by_trace.items():
        fixed.update(
            ((trace_id, span), (trace_id, parent))
            for span, parent in corrected_parents(spans, runs).items()
        )
    return fixed


def replace_corrected_steps(
    con: duckdb.DuckDBPyConnection,
    trace_ids: set[str],
    spans: set[SpanKey],
    stored: StoredParents,
) -> set[str]:
    """Move the steps of corrected spans (``spans``) stored under another run to the run
    their corrected parent leads to; the runs they left have no tokens of theirs any more.
    Returns the runs whose steps changed."""
    from collector.run_links import set_by_id, trace_graph  # run_links reads this module

    parents, run_spans = trace_graph(con, trace_ids, stored)
    nearest = NearestRuns(parents, run_spans)
    rows = con.execute(
        "SELECT id, trace_id, span_id, agent_run_id FROM agent_steps "
        "WHERE trace_id IN (SELECT unnest(?)) AND span_id IN (SELECT unnest(?))",
        [sorted(trace_ids), sorted({span_id for _, span_id in spans})],
    ).fetchall()
    moves: dict[str, str] = {}
    left: set[str] = set()
    for step_id, trace_id, span_id, current in rows:
        if (trace_id, span_id) not in spans:
            continue  # another trace's span of the same id
        run_id, _ = nearest.of((trace_id, span_id))
        if run_id is not None and run_id != current:
            moves[step_id] = run_id
            if current is not None:
                left.add(current)
    if not moves:
        return set()
    set_by_id(con, "agent_steps", "agent_run_id", moves)
    if left:
        # A run's tokens are its own model calls'; what moved out is no longer its.
        # (Also when none is left, which the refresh of a run's aggregates does not see.)
        con.execute(
            "UPDATE agent_runs SET input_tokens = t.i, output_tokens = t.o, total_steps = t.n, "
            "tool_names = t.tools FROM ("
            "  SELECT r.id, sum(s.input_tokens) AS i, sum(s.output_tokens) AS o,"
            "    count(s.id) AS n, list_sort(list(DISTINCT s.tool_name)"
            "      FILTER (WHERE s.tool_name IS NOT NULL)) AS tools"
            "  FROM agent_runs r LEFT JOIN agent_steps s ON s.agent_run_id = r.id"
            "  WHERE r.id IN (SELECT unnest(?)) GROUP BY r.id"
            ") t WHERE agent_runs.id = t.id",
            [sorted(left)],
        )
    return set(moves.values()) | left
