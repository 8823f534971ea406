"""Span records -> run and step rows. Pure functions, no I/O.

Classification, first match wins: agent-audit's own spans (they carry
``agent_run.id``), then ``openinference.span.kind`` (a trace's root CHAIN is a run), then
``gen_ai.operation.name``, then ``gen_ai.tool.name``. A step's run is its
nearest ancestor run span; the store resolves ancestry across requests with
:func:`nearest_run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field, make_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from collector import frameworks, rules
from collector.columns import AGENT_RUNS, AGENT_STEPS, Column
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.redact import BUDGET_REDACTED
from collector.server_commands import command_fields
from collector.span_values import (
    MAX_TOKEN_COUNT,
    STATUS_ERROR,
    error_text,
    exception_message,
    json_text,
    text_value,
    token_count,
)
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus, StepStatus

__all__ = [
    "SpanClass",
    "RunRow",
    "StepRow",
    "classify",
    "run_id_of",
    "own_run_id",
    "step_id_of",
    "build_run",
    "build_step",
    "nearest_run",
    "pick_winners",
    "ns_to_datetime",
    "MAX_TOKEN_COUNT",
    "error_text",
    "exception_message",
]


_STATUS_ERROR = 2


class SpanClass(Enum):
    """What a span is to agent-audit."""

    RUN = "run"
    TOOL = "tool_call"
    LLM = "think"
    OWN_STEP = "own_step"  # an agent-audit step of another action type
    OTHER = "other"


def classify(span: SpanRecord) -> SpanClass:
    """Decide whether a span is a run, a step of some kind, or neither."""
    attrs = span.attributes
    op = attrs.get(A.GEN_AI_OPERATION_NAME)
    if not isinstance(op, str):  # any OTLP type may arrive; only a string names one
        op = None
    if A.RUN_ID in attrs:
        if A.STEP_ACTION_TYPE in attrs:
            action = attrs[A.STEP_ACTION_TYPE]
            if action == "tool_call":
                return SpanClass.TOOL
            if action == "think":
                return SpanClass.LLM
            return SpanClass.OWN_STEP
        if op in A.RUN_OPERATIONS or str(span.name).startswith(A.RUN_SPAN_PREFIX):
            return SpanClass.RUN
    hint = frameworks.span_class_hint(span)
    if hint is not None:
        return SpanClass(hint)
    oi_kind = attrs.get(OI.SPAN_KIND)
    if isinstance(oi_kind, str):
        upper = oi_kind.upper()
        if upper == OI.KIND_AGENT:
            return SpanClass.RUN
        if upper == OI.KIND_TOOL:
            return SpanClass.TOOL
        if upper == OI.KIND_LLM:
            return SpanClass.LLM
        if upper == OI.KIND_CHAIN and span.parent_span_id is None and not rules.for_span(span):
            # The root CHAIN is the application's entry point (DSPy's module, Haystack's
            # pipeline): with no AGENT span above its model calls, it is the run. A framework
            # with a module of its own (collector/rules/) tells its runs itself.
            return SpanClass.RUN
    if rules.litellm.wrote_onto(span):
        # The program's span LiteLLM wrote its calls onto (collector/rules/litellm.py), its
        # calls the raw_gen_ai_request spans below it: no model call itself. A root that
        # failed is its run (a failed call leaves no raw span for the program-root rule
        # to find); any other is read as every program's span is.
        failed_root = span.parent_span_id is None and span.status_code == _STATUS_ERROR
        return SpanClass.RUN if failed_root else SpanClass.OTHER
    if op == A.OP_INVOKE_AGENT or op == G.OP_INVOKE_WORKFLOW:
        # Not create_agent: it creates a (remote) agent and runs nothing (GenAI agent spans).
        return SpanClass.RUN
    if op == A.OP_EXECUTE_TOOL:
        return SpanClass.TOOL
    if op in A.LLM_OPERATIONS or (op is None and frameworks.is_legacy_model_call(span)):
        return SpanClass.LLM
    if A.GEN_AI_TOOL_NAME in attrs:
        return SpanClass.TOOL
    return SpanClass.OTHER


def is_pending(span: SpanRecord) -> bool:
    """A live placeholder exported when the real span started."""
    return bool(span.attributes.get(A.PENDING))


def real_span_id(span: SpanRecord) -> str:
    """The id of the real span a record stands for (pending copies point at it)."""
    if is_pending(span):
        parent = span.attributes.get(A.PENDING_PARENT_ID) or span.parent_span_id
        if isinstance(parent, str) and parent:
            return parent.lower()
    return span.span_id


def own_run_id(span: SpanRecord) -> str | None:
    """The span's ``agent_run.id``, unless missing or replaced whole by redaction.

    Under load a request can spend its redaction time budget; the values left are
    replaced by one marker (collector/redact.py). That marker names no run: taken
    as an id it would gather the steps of unrelated runs into one, so the span is
    placed by its parent span instead.
    """
    own = span.attributes.get(A.RUN_ID)
    if isinstance(own, str) and own and own != BUDGET_REDACTED:
        return own
    return None


def run_id_of(span: SpanRecord) -> str:
    """The run id a run span stands for: ``agent_run.id`` or, for others, its span id."""
    return own_run_id(span) or real_span_id(span)


def step_id_of(span: SpanRecord) -> str:
    return real_span_id(span)


def ns_to_datetime(ns: int | None) -> datetime | None:
    """OTLP nanoseconds -> naive UTC datetime (None for 0 / missing)."""
    if not ns:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).replace(tzinfo=None)


def _end_time(span: SpanRecord) -> datetime | None:
    """When the span ended, never before it started: a clock set back while it ran
    (the span as sent stays in ``spans``) must not make a run end before it began."""
    return ns_to_datetime(max(span.end_ns, span.start_ns) if span.end_ns else 0)


def _duration_ms(span: SpanRecord) -> float | None:
    if is_pending(span) or not span.end_ns or not span.start_ns:
        return None
    return max(0.0, (span.end_ns - span.start_ns) / 1e6)


# The row objects the mapping builds are derived from the declared columns
# (collector/columns.py): every column ingest writes row by row, less those the
# writer fills in for the whole batch, plus when the span ended (end_ns, which
# decides between two rows of one id in pick_winners; not stored). A generated
# slots dataclass, used as generated: construction and attribute access cost
# what a written one costs (a subclass of it measured 4% slower).
def _row_class(
    name: str,
    doc: str,
    columns: Iterable[Column],
    *,
    filled_by_writer: frozenset[str] = frozenset(),
) -> Any:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (c.name, Any) for c in columns if c.ingested and c.name not in filled_by_writer
    ]
    fields.append(("end_ns", int, field(default=0)))
    row_class = make_dataclass(name, fields, slots=True)
    row_class.__module__ = __name__
    row_class.__doc__ = doc
    return row_class


if TYPE_CHECKING:

    class _DerivedRow:
        """What the type checker knows of a row: keyword fields, attributes of any type."""

        def __init__(self, **values: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    class RunRow(_DerivedRow): ...

    class StepRow(_DerivedRow): ...

else:
    RunRow = _row_class(
        "RunRow",
        "One ``agent_runs`` row as the mapping sees it (aggregates are filled in SQL).",
        AGENT_RUNS,
        filled_by_writer=frozenset({"updated_at"}),  # the commit's time, for the batch
    )
    StepRow = _row_class(
        "StepRow",
        "One ``agent_steps`` row; ``agent_run_id`` may be None until its run is known.",
        AGENT_STEPS,
    )


def open_at_exit(span: SpanRecord) -> bool:
    """A pending copy sent as the process shut its tracing down with the span still open
    (instrumentation/pending.py): what it stands for was cut off then."""
    return is_pending(span) and span.attributes.get(A.PENDING_OPEN_AT_EXIT) is True


def pending_real_parent(span: SpanRecord) -> str | None:
    """The parent of the real span a pending copy stands for, when the copy says."""
    if not is_pending(span):
        return None
    parent = span.attributes.get(A.PENDING_REAL_PARENT_ID)
    return parent.lower() if isinstance(parent, str) and parent else None


def _run_status(span: SpanRecord, pending: bool) -> str:
    if pending:
        return RunStatus.CANCELLED if open_at_exit(span) else RunStatus.RUNNING
    declared = span.attributes.get(A.RUN_STATUS)
    if isinstance(declared, str) and declared in A.RUN_STATUSES and declared != RunStatus.RUNNING:
        return declared
    if A.RUN_ID not in span.attributes:
        signalled = frameworks.run_status(span)  # e.g. a step-limit exception: max_steps
        if signalled:
            return signalled
    return RunStatus.FAILED if span.status_code == STATUS_ERROR else RunStatus.COMPLETED


def build_run(span: SpanRecord, parent_run_id: str | None) -> RunRow:
    """The run row a run span (real or pending) describes."""
    attrs = span.attributes
    pending = is_pending(span)
    status = _run_status(span, pending)
    own = A.RUN_ID in attrs
    fields = {} if own else frameworks.run_fields(span)
    error = None
    if status in (RunStatus.FAILED, RunStatus.MAX_STEPS):
        # A framework's own reading of its error (no traceback) wins over the raw status.
        error = fields.get("error") or error_text(span, A.RUN_ERROR)
    if status == RunStatus.FAILED and not error:
        error = "failed"
    return RunRow(
        id=run_id_of(span),
        task=text_value(attrs.get(A.RUN_TASK)) or fields.get("task"),
        working_directory=text_value(attrs.get(A.RUN_WORKING_DIRECTORY)),
        model_requested=text_value(attrs.get(A.GEN_AI_REQUEST_MODEL))
        or fields.get("model_requested"),
        model_used=text_value(attrs.get(A.GEN_AI_RESPONSE_MODEL)) or fields.get("model_used"),
        backend=text_value(attrs.get(A.RUN_BACKEND)),
        status=status,
        final_answer=text_value(attrs.get(A.RUN_FINAL_ANSWER)) or fields.get("final_answer"),
        started_at=ns_to_datetime(span.start_ns),
        completed_at=_end_time(span) if not pending or open_at_exit(span) else None,
        duration_ms=_duration_ms(span),
        source=text_value(attrs.get(A.RUN_SOURCE)) or fields.get("source"),
        triggered_by=text_value(attrs.get(A.RUN_TRIGGERED_BY)),
        error=error,
        metadata=json_text(attrs.get(A.RUN_METADATA)),
        trace_id=span.trace_id,
        span_id=real_span_id(span),
        parent_run_id=parent_run_id,
        agent_name=text_value(attrs.get(A.GEN_AI_AGENT_NAME)) or fields.get("agent_name"),
        service_name=span.service_name,
        provider=text_value(attrs.get(A.GEN_AI_PROVIDER_NAME) or attrs.get(A.GEN_AI_SYSTEM))
        or fields.get("provider"),
        # A framework module may say the run span's usage is not the run's (None: sum the
        # run's model calls instead).
        input_tokens=token_count(fields["input_tokens"])
        if "input_tokens" in fields
        else token_count(
            attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS, attrs.get(A.GEN_AI_USAGE_PROMPT_TOKENS))
        ),
        output_tokens=token_count(fields["output_tokens"])
        if "output_tokens" in fields
        else token_count(
            attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, attrs.get(A.GEN_AI_USAGE_COMPLETION_TOKENS))
        ),
        is_final=not pending,
        end_ns=span.end_ns,
    )


def build_step(span: SpanRecord, kind: SpanClass, run_id: str | None) -> StepRow:
    """The step row a step span (real or pending) describes."""
    attrs = span.attributes
    pending = is_pending(span)
    own = A.RUN_ID in attrs
    fields = {} if own else frameworks.step_fields(span, kind.value)
    if kind is SpanClass.OWN_STEP:
        action_type = str(attrs.get(A.STEP_ACTION_TYPE))
    else:
        # A framework's terminal answer tool (smolagents' final_answer) is a response step.
        default = "tool_call" if kind is SpanClass.TOOL else "think"
        action_type = str(fields.get("action_type") or default)
    error = error_text(span, A.STEP_ERROR)
    if "error" in fields and not pending:
        # The framework's reading: no traceback, a soft error, or (None) no failure at all,
        # as a LangGraph tool pausing for human input. A live copy (pending) has no result
        # yet, which a framework's reading could take for a call cut off.
        error = str(fields["error"]) if fields["error"] else None
    finish = attrs.get(A.GEN_AI_RESPONSE_FINISH_REASONS)
    # What a framework module read from its own shapes wins over the generic attributes.
    return StepRow(
        id=step_id_of(span),
        agent_run_id=run_id,
        action_type=action_type,
        tool_name=text_value(fields["tool_name"])
        if "tool_name" in fields
        else text_value(attrs.get(A.GEN_AI_TOOL_NAME)),
        tool_args=json_text(fields["tool_args"])
        if fields.get("tool_args") is not None
        else json_text(attrs.get(A.GEN_AI_TOOL_CALL_ARGUMENTS)),
        tool_result=text_value(fields["tool_result"])
        if fields.get("tool_result") is not None
        else text_value(attrs.get(A.GEN_AI_TOOL_CALL_RESULT)),
        thinking=text_value(attrs.get(A.STEP_THINKING)) or fields.get("thinking"),
        error=error,
        started_at=ns_to_datetime(span.start_ns),
        duration_ms=_duration_ms(span),
        trace_id=span.trace_id,
        span_id=real_span_id(span),
        parent_span_id=_real_parent(span),
        name=span.name,
        status=StepStatus.RUNNING if pending else (StepStatus.ERROR if error else StepStatus.OK),
        model=text_value(attrs.get(A.GEN_AI_RESPONSE_MODEL) or attrs.get(A.GEN_AI_REQUEST_MODEL))
        or fields.get("model"),
        # A framework module's count of the whole prompt, where the generic key leaves
        # the cached part out, wins.
        input_tokens=_first_count(
            fields.get("whole_prompt_tokens"),
            attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS, attrs.get(A.GEN_AI_USAGE_PROMPT_TOKENS)),
            fields.get("input_tokens"),
        ),
        output_tokens=_first_count(
            attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, attrs.get(A.GEN_AI_USAGE_COMPLETION_TOKENS)),
            fields.get("output_tokens"),
        ),
        finish_reasons=text_value(finish) if finish is not None else fields.get("finish_reasons"),
        is_final=not pending,
        **command_fields(attrs),
        end_ns=span.end_ns,
    )


def _first_count(*values: Any) -> int | None:
    """The first of ``values`` that is a token count: a call that produced no token (a
    content filter's empty answer) reports 0, which is a count, not a missing one."""
    for value in values:
        count = token_count(value)
        if count is not None:
            return count
    return None


def _real_parent(span: SpanRecord) -> str | None:
    """The parent of the real span; a pending copy's own parent is the real span itself."""
    if is_pending(span):
        return None
    return span.parent_span_id


def nearest_run(
    span_id: str,
    parents: Mapping[str, str | None],
    run_ids: Mapping[str, str],
    *,
    max_depth: int = 256,
) -> tuple[str | None, bool]:
    """Walk up from ``span_id`` (exclusive) to the first ancestor that is a run.

    ``parents`` maps span id -> parent span id for the known spans of a trace;
    ``run_ids`` maps the span id of each run span -> its run id. Returns the run
    id (or None) and whether the answer is final: False when the walk left the
    known spans, so an ancestor may still arrive.
    """
    current = parents.get(span_id)
    for _ in range(max_depth):
        if current is None:
            return None, True
        if current in run_ids:
            return run_ids[current], True
        if current not in parents:
            return None, False
        current = parents[current]
    return None, True


def pick_winners(rows: Iterable[Any], key: Callable[[Any], str]) -> list[Any]:
    """One row per key: a finished span beats a pending copy; otherwise the later one.

    DuckDB keeps the first of two equal keys in one INSERT, so the winner is
    chosen here, before inserting.
    """
    best: dict[str, Any] = {}
    for row in rows:
        k = key(row)
        current = best.get(k)
        if current is None or (row.is_final, row.end_ns) >= (current.is_final, current.end_ns):
            best[k] = row
    return list(best.values())
