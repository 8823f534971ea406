"""Run fields another instrumentation put on the run's other spans, not on the run span.

A foreign run span (OpenInference, OpenLLMetry, ...) may lack the task, the
answer or the model; :func:`collector.frameworks.derive_run_fields` finds them
among the spans of its trace once they are stored.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import duckdb

from collector import adk_branches, frameworks
from collector.asked_tools import asked_tool_fields
from collector.columns import AGENT_RUNS, ArrowSchema
from collector.decode import SpanRecord
from collector.id_lists import chunks, in_list
from collector.mapping import SpanClass, build_run, classify, is_pending
from collector.message_tools import told_tool_spans
from collector.rule_parents import with_named_parents
from collector.run_subtrees import spans_of_runs
from collector.run_tree import model_calls_below, own_spans_by_run
from collector.trace_arrivals import TraceArrivals, spans_reads
from collector.trace_owned_ids import OWNED_ID_SEPARATOR, trace_scoped_id
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus, StepStatus

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = ["derive_foreign_runs", "stored_span"]

logger = logging.getLogger(__name__)

# "id" first: the rest are the fields derive_run_fields may return.
_DERIVED_SCHEMA = ArrowSchema(
    AGENT_RUNS,
    {
        "id",
        "task",
        "final_answer",
        "model_requested",
        "model_used",
        "provider",
        "status",
        "error",
        "agent_name",
    },
)


# The runs whose steps were renamed keep their list of tools right (ingest set it before).
_RENAMED_TOOLS = """
    UPDATE agent_runs SET tool_names = t.names FROM (
        SELECT agent_run_id,
               list_sort(list(DISTINCT tool_name) FILTER (WHERE tool_name IS NOT NULL)) AS names
        FROM agent_steps WHERE agent_run_id IN (
            SELECT agent_run_id FROM agent_steps WHERE id IN (SELECT id FROM _names))
        GROUP BY agent_run_id
    ) t WHERE agent_runs.id = t.agent_run_id
"""


# A result that is only Python object reprs (``[<pkg.Content object at 0x7f...>]``: a span
# that wrote its result objects with ``str()``) tells a reader nothing: it counts as missing,
# and what a later model call was sent fills it. Python's ``re`` and DuckDB's RE2 alike.
_OBJECT_REPR = r"<[A-Za-z_][\w.]* object at 0x[0-9A-Fa-f]+>"
OBJECT_REPRS_ONLY = rf"\s*\[?\s*{_OBJECT_REPR}(?:\s*,\s*{_OBJECT_REPR})*\s*\]?\s*"
_OBJECT_REPRS_ONLY = re.compile(OBJECT_REPRS_ONLY)


def only_object_reprs(text: Any) -> bool:
    """Whether a result is nothing but object reprs (see OBJECT_REPRS_ONLY)."""
    return isinstance(text, str) and _OBJECT_REPRS_ONLY.fullmatch(text) is not None


def _without_repr_result(span: SpanRecord) -> SpanRecord:
    """The span with a result of object reprs dropped: the rules read it as missing."""
    if not only_object_reprs(span.attributes.get(A.GEN_AI_TOOL_CALL_RESULT)):
        return span
    attributes = {k: v for k, v in span.attributes.items() if k != A.GEN_AI_TOOL_CALL_RESULT}
    return replace(span, attributes=attributes)


def stored_span(row: tuple[Any, ...]) -> SpanRecord:
    """A span record from a ``spans`` row (collector/run_subtrees.py's ``SPAN_COLUMNS``)."""
    (
        trace_id,
        span_id,
        parent,
        name,
        kind,
        start_ns,
        end_ns,
        status_code,
        status_message,
        scope_name,
        scope_version,
        resource,
        attributes,
        events,
    ) = row
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=kind or 0,
        start_ns=start_ns or 0,
        end_ns=end_ns or 0,
        status_code=status_code or 0,
        status_message=status_message or "",
        attributes=json.loads(attributes or "{}"),
        events=json.loads(events or "[]"),
        resource=json.loads(resource or "{}"),
        scope_name=scope_name or "",
        scope_version=scope_version or "",
    )


_StepFound = dict[str, str]
# The run fields a derivation states whole each time: what the run span states, else what
# the trace stored so far says. A derivation from part of the trace (a run's own model
# calls still to come, the calls below it standing in) is replaced by the next one, from
# more of it, so the stored value is the one the whole trace gives, in any arrival order.
_RESTATED = ("task", "final_answer", "model_requested", "provider")


def _restated(run_span: SpanRecord, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with each of :data:`_RESTATED` as the run span states it (as
    mapping.build_run reads it; an empty answer is one), else as derived (None when not),
    and the run's status and error as the run span and this derivation give them."""
    stated = build_run(run_span, None)
    out = dict(fields)
    for name in _RESTATED:
        value = getattr(stated, name)
        out[name] = value if value is not None else fields.get(name)
    out["status"], out["error"] = _status_and_error(stated.status, stated.error, fields)
    # A model only an earlier derivation found (from calls since placed below another
    # run) gives way to the one the run span names.
    out["model_used"] = fields.get("model_used") or stated.model_used
    return out


def _status_and_error(
    status: str, error: str | None, fields: dict[str, Any]
) -> tuple[str, str | None]:
    """The status and error of a run whose span says ``status`` and ``error``, by the
    trace stored so far (``fields``). Stated whole each time, like :data:`_RESTATED`: a
    later span may withdraw what an earlier derivation said (the answer that arrives
    after the step cut off by a retry, the model call that recovers after a tool's
    error), and the run then reads as its span says."""
    derived, cause = fields.get("status"), fields.get("error")
    if derived and status == RunStatus.COMPLETED:
        # why a run that looked completed stopped (a step limit only its spans show)
        return str(derived), error or (str(cause) if cause else None)
    if not derived and status == RunStatus.FAILED and cause:
        # a failed run whose span tells no cause: the error of the step it failed on
        return status, str(cause)
    return status, error


def _derive_trace(
    spans: list[SpanRecord],
    trace_runs: list[tuple[str, str]],
    is_run: Callable[[SpanRecord], bool],
) -> tuple[_StepFound, _StepFound, _StepFound, _StepFound, list[tuple[str, dict[str, Any]]]]:
    """One trace's step arguments, errors, tool names and results found elsewhere, and its
    runs' fields."""
    step_args: dict[str, str] = {}
    step_results: dict[str, str] = {}
    step_errors: dict[str, str] = {}
    step_names: dict[str, str] = {}
    by_id = {s.span_id: _without_repr_result(s) for s in spans}
    for span in by_id.values():
        found = frameworks.derive_step_fields(span, by_id)
        if found.get("tool_args") is not None:
            args = json.dumps(found["tool_args"], ensure_ascii=False, default=str)
            step_args[span.span_id] = args
        if found.get("error"):
            step_errors[span.span_id] = str(found["error"])
        if found.get("tool_name"):
            step_names[span.span_id] = str(found["tool_name"])
        if found.get("tool_result") is not None:
            step_results[span.span_id] = str(found["tool_result"])
    own = own_spans_by_run(by_id, is_run, {span_id for _, span_id in trace_runs})
    if not _tools_traced(spans):
        # A loop running its tools untraced: each model call's step shows what it asked for.
        # Only a program's own span made a run (collector/program_runs.py): a framework's
        # run may trace its tools in a span still to come, and the steps must not depend
        # on which arrived first.
        for run_span_id, run_spans in own.items():
            run_span = by_id.get(run_span_id)
            if run_span is None or classify(run_span) is SpanClass.RUN:
                continue
            calls = sorted(
                (s for s in run_spans if frameworks.is_model_call(s)),
                key=lambda s: (s.start_ns, s.span_id),
            )
            for span_id, asked in asked_tool_fields(calls).items():
                step_names.setdefault(span_id, asked["tool_name"])
                step_args.setdefault(span_id, asked["tool_args"])
                if "tool_result" in asked:
                    step_results.setdefault(span_id, asked["tool_result"])
    calls_below = model_calls_below(spans, frameworks.is_model_call)
    runs: list[tuple[str, dict[str, Any]]] = []
    for run_id, span_id in trace_runs:
        run_span = by_id.get(span_id)
        if run_span is None:
            continue
        fields = frameworks.derive_run_fields(
            run_span,
            spans,
            is_run=is_run,
            own=own.get(span_id, []),
            calls_below=calls_below.get(span_id, []),
        )
        # Every run, derived fields or not: what an earlier derivation from less of the
        # trace said is replaced.
        runs.append((run_id, _restated(run_span, fields)))
    return step_args, step_errors, step_names, step_results, runs


def _tools_traced(spans: list[SpanRecord]) -> bool:
    """Whether a span of the trace is a tool call, or a model call's messages tell one that
    becomes a step (collector/message_tools.py). Not whether a module could tell some:
    pydantic-ai's and LlamaIndex's modules tell only calls of tools the agent lacks, and
    a hand-written loop of their raw model calls runs its tools untraced."""
    if any(classify(span) is SpanClass.TOOL for span in spans):
        return True
    return bool(told_tool_spans(spans))


# A value found for a step, by (span id, trace id): span ids are unique only in a trace.
_TraceFound = dict[tuple[str, str], str]
# The step a found value belongs to: its own trace's, whichever id that trace was given.
_SAME_STEP = "agent_steps.id = {t}.id AND agent_steps.trace_id = {t}.trace_id"


def _by_step(found: _TraceFound, column: str) -> pa.Table:
    """Rows (id, trace_id, column) for both ids a step of that trace can have."""
    ids: list[str] = []
    traces: list[str] = []
    values: list[str] = []
    for (span_id, trace_id), value in found.items():
        for step_id in (span_id, trace_scoped_id(span_id, trace_id)):
            ids.append(step_id)
            traces.append(trace_id)
            values.append(value)
    return pa.table({"id": ids, "trace_id": traces, column: values})


def derive_foreign_runs(
    con: duckdb.DuckDBPyConnection, run_ids: set[str], arrivals: TraceArrivals | None = None
) -> None:
    """Fill what a foreign run span lacks from its own spans (frameworks.derive_run_fields).

    ``arrivals`` bounds the read of the runs' spans (collector/trace_arrivals.py).
    """
    runs = [
        row
        for listed, params in map(in_list, chunks(sorted(run_ids)))
        for row in con.execute(
            "SELECT id, trace_id, span_id FROM agent_runs "
            f"WHERE id IN ({listed}) AND is_final "
            f"AND (id = span_id OR id = span_id || '{OWNED_ID_SEPARATOR}' || trace_id)",
            params,
        ).fetchall()
    ]
    if not runs:
        return
    run_spans: dict[str, set[str]] = {}
    for _, trace_id, span_id in runs:
        run_spans.setdefault(trace_id, set()).add(span_id)
    rows = []
    for since, ids in spans_reads(arrivals, sorted(run_spans)):
        # The runs' subtrees, not the whole trace: a request's cost stays its own.
        rows += spans_of_runs(con, since, {t: run_spans[t] for t in ids})
    by_trace: dict[str, list[SpanRecord]] = {}
    for row in rows:
        span = stored_span(row)
        if not is_pending(span):
            by_trace.setdefault(span.trace_id, []).append(span)
    derived: dict[str, list[Any]] = {name: [] for name in _DERIVED_SCHEMA.names}
    step_args: _TraceFound = {}
    step_errors: _TraceFound = {}
    step_names: _TraceFound = {}
    step_results: _TraceFound = {}
    runs_by_trace: dict[str, list[tuple[str, str]]] = {}
    for run_id, trace_id, span_id in runs:
        runs_by_trace.setdefault(trace_id, []).append((run_id, span_id))

    def is_run(span: SpanRecord) -> bool:
        return classify(span) is SpanClass.RUN

    # Each trace's spans are looked at once, however many runs it nests: work
    # per run over the whole trace made a deep chain of agents cubic.
    for trace_id, trace_runs in runs_by_trace.items():
        spans = by_trace.get(trace_id, [])
        try:
            placed = with_named_parents(adk_branches.in_their_branch(spans))
            found = _derive_trace(placed, trace_runs, is_run)
            found_args, found_errors, found_names, found_results, found_runs = found
        except Exception:  # noqa: BLE001 - untrusted values: contain, log, keep the rest
            logger.warning(
                "the runs of trace %s keep what their own spans say: deriving more failed",
                trace_id,
                exc_info=True,
            )
            continue
        for into, found_by_span in (
            (step_args, found_args),
            (step_errors, found_errors),
            (step_names, found_names),
            (step_results, found_results),
        ):
            into.update(((span_id, trace_id), v) for span_id, v in found_by_span.items())
        for run_id, fields in found_runs:
            derived["id"].append(run_id)
            for name in _DERIVED_SCHEMA.names[1:]:
                derived[name].append(fields.get(name))
    if step_args:
        # Tool arguments another span of the trace holds (LangChain's tools node).
        con.register("_args", _by_step(step_args, "args"))
        con.execute(
            "UPDATE agent_steps SET tool_args = a.args FROM _args a "
            f"WHERE {_SAME_STEP.format(t='a')} AND agent_steps.tool_args IS DISTINCT FROM a.args"
        )
        con.unregister("_args")
    if step_results:
        # A tool's result only a later model call holds (a GenAI tool span before 1.37).
        con.register("_results", _by_step(step_results, "result"))
        con.execute(
            "UPDATE agent_steps SET tool_result = r.result FROM _results r "
            f"WHERE {_SAME_STEP.format(t='r')} AND (agent_steps.tool_result IS NULL "
            "OR regexp_full_match(agent_steps.tool_result, ?))",
            [OBJECT_REPRS_ONLY],
        )
        con.unregister("_results")
    if step_names:
        # The tool the model called, which only its model call names (an Agents SDK hand-off).
        con.register("_names", _by_step(step_names, "name"))
        con.execute(
            "UPDATE agent_steps SET tool_name = n.name FROM _names n "
            f"WHERE {_SAME_STEP.format(t='n')} AND agent_steps.tool_name IS DISTINCT FROM n.name"
        )
        con.execute(_RENAMED_TOOLS)
        con.unregister("_names")
    if step_errors:
        # A tool's failure another span holds (AutoGen's own span under OpenInference's).
        con.register("_errors", _by_step(step_errors, "error"))
        con.execute(
            f"UPDATE agent_steps SET error = e.error, status = '{StepStatus.ERROR}' FROM _errors e "
            f"WHERE {_SAME_STEP.format(t='e')} AND agent_steps.error IS NULL"
        )
        con.unregister("_errors")
    if not derived["id"]:
        return
    table = pa.table(derived, schema=_DERIVED_SCHEMA.schema)
    con.register("_derived", table)
    con.execute(
        """
        UPDATE agent_runs SET
            -- stated whole by each derivation (_RESTATED)
            task = d.task,
            final_answer = d.final_answer,
            model_requested = d.model_requested,
            -- the model calls' response model beats the step fallback refresh_runs set
            model_used = coalesce(d.model_used, agent_runs.model_used),
            provider = d.provider,
            -- a name only the run's other spans hold beats the run span's class name
            agent_name = coalesce(d.agent_name, agent_runs.agent_name),
            -- stated whole from the run span and the trace (_status_and_error): what an
            -- earlier derivation said and a later span withdrew is not kept
            status = d.status,
            error = d.error
        FROM _derived d WHERE agent_runs.id = d.id
        """
    )
    con.unregister("_derived")
