"""The columns of ``spans``, ``agent_runs`` and ``agent_steps``, each declared once.

The DDL (collector/schema.py), the Arrow schemas ingest writes through
(:func:`arrow_schema`) and the column lists the API and the hash chain read are
all derived from these declarations. ``since`` is the schema version that added
a column, so the migration of each version is derived too and older files
still upgrade in order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa


__all__ = [
    "Column",
    "SPANS",
    "AGENT_RUNS",
    "AGENT_STEPS",
    "names",
    "arrow_schema",
    "ArrowSchema",
    "column_ddl",
]


def _arrow_type(sql_type: str) -> pa.DataType:
    """One Arrow type per DuckDB type: rows go into DuckDB as Arrow tables.

    A function, not a table built at import: pyarrow loads at first use
    (collector/lazy_modules.py).
    """
    types: dict[str, Callable[[], pa.DataType]] = {
        "VARCHAR": pa.string,
        "JSON": pa.string,
        "INTEGER": pa.int32,
        "BIGINT": pa.int64,
        "DOUBLE": pa.float64,
        "BOOLEAN": pa.bool_,
        "TIMESTAMP": lambda: pa.timestamp("us"),
        "VARCHAR[]": lambda: pa.list_(pa.string()),
    }
    return types[sql_type]()


@dataclass(frozen=True)
class Column:
    """One column: its DuckDB type, whether it may be NULL, and what it holds."""

    name: str
    sql_type: str
    doc: str
    nullable: bool = True
    # Extra DDL after the type (a key or a default).
    constraint: str = ""
    # The schema version that added it.
    since: int = 1
    # False for columns the ingest never writes row by row (aggregates, bookkeeping).
    ingested: bool = True

    @property
    def arrow_type(self) -> pa.DataType:
        return _arrow_type(self.sql_type)

    @property
    def ddl(self) -> str:
        parts = [self.name, self.sql_type]
        if not self.nullable:
            parts.append("NOT NULL")
        if self.constraint:
            parts.append(self.constraint)
        return " ".join(parts)


SPANS: tuple[Column, ...] = (
    Column("trace_id", "VARCHAR", "OTLP trace id (32 hex digits).", nullable=False),
    Column("span_id", "VARCHAR", "OTLP span id (16 hex digits).", nullable=False),
    Column("parent_span_id", "VARCHAR", "Parent span id; NULL for a root span."),
    Column("name", "VARCHAR", "Span name.", nullable=False),
    Column("kind", "INTEGER", "OTLP span kind number."),
    Column("start_ns", "BIGINT", "Start, nanoseconds since the epoch."),
    Column("end_ns", "BIGINT", "End, nanoseconds since the epoch."),
    Column("status_code", "INTEGER", "OTLP status code (0 unset, 1 ok, 2 error)."),
    Column("status_message", "VARCHAR", "OTLP status message."),
    Column("service_name", "VARCHAR", "The resource's service.name."),
    Column("scope_name", "VARCHAR", "Instrumentation scope name."),
    Column("scope_version", "VARCHAR", "Instrumentation scope version."),
    Column("resource", "JSON", "Resource attributes."),
    Column("attributes", "JSON", "Span attributes."),
    Column("events", "JSON", "Span events with their attributes."),
    Column("links", "JSON", "Span links."),
    Column("received_at", "TIMESTAMP", "When the collector stored the span (UTC).", nullable=False),
)

AGENT_RUNS: tuple[Column, ...] = (
    Column("id", "VARCHAR", "Run id.", constraint="PRIMARY KEY"),
    Column("task", "VARCHAR", "What the agent was asked to do."),
    Column("working_directory", "VARCHAR", "Where the agent ran."),
    Column("model_requested", "VARCHAR", "The model the run asked for."),
    Column("model_used", "VARCHAR", "The model that answered (last model call's)."),
    Column("backend", "VARCHAR", "LLM backend name."),
    Column(
        "status",
        "VARCHAR",
        "running, completed, failed, max_steps, cancelled or lost.",
        nullable=False,
    ),
    Column("final_answer", "VARCHAR", "The agent's answer."),
    Column(
        "total_steps",
        "INTEGER",
        "Steps stored for the run.",
        nullable=False,
        constraint="DEFAULT 0",
        ingested=False,
    ),
    Column("started_at", "TIMESTAMP", "Run start (UTC)."),
    Column("completed_at", "TIMESTAMP", "Run end (UTC); NULL while running."),
    Column("duration_ms", "DOUBLE", "Run duration in milliseconds."),
    Column("source", "VARCHAR", "What started the run (cli, api, ...)."),
    Column("triggered_by", "VARCHAR", "Who started the run."),
    Column("error", "VARCHAR", "Why the run failed."),
    Column("metadata", "JSON", "Free-form metadata given at start."),
    Column("trace_id", "VARCHAR", "The run span's trace."),
    Column("span_id", "VARCHAR", "The run span."),
    Column("parent_run_id", "VARCHAR", "The run this one is nested in."),
    Column("agent_name", "VARCHAR", "The agent's name."),
    Column("service_name", "VARCHAR", "The resource's service.name."),
    Column("provider", "VARCHAR", "LLM provider."),
    Column("input_tokens", "BIGINT", "Prompt tokens over the run."),
    Column("output_tokens", "BIGINT", "Completion tokens over the run."),
    Column("updated_at", "TIMESTAMP", "Last change of the row (UTC).", nullable=False),
    Column("last_activity_at", "TIMESTAMP", "Last span of the run seen (UTC).", ingested=False),
    Column(
        "is_final",
        "BOOLEAN",
        "True once the finished run span arrived.",
        nullable=False,
        constraint="DEFAULT FALSE",
    ),
    Column("tool_names", "VARCHAR[]", "Tools the run called, sorted.", since=3, ingested=False),
)

AGENT_STEPS: tuple[Column, ...] = (
    Column("id", "VARCHAR", "Step id.", constraint="PRIMARY KEY"),
    Column("agent_run_id", "VARCHAR", "The run; NULL until the run arrives."),
    Column(
        "step_number",
        "INTEGER",
        "1-based position in start order (steps started at once: in end order).",
        ingested=False,
    ),
    Column(
        "action_type",
        "VARCHAR",
        "think or tool_call, or the span's own action type.",
        nullable=False,
    ),
    Column("tool_name", "VARCHAR", "The tool called."),
    Column("tool_args", "JSON", "The tool's arguments."),
    Column("tool_result", "VARCHAR", "What the tool returned."),
    Column("thinking", "VARCHAR", "The model's reasoning text."),
    Column("error", "VARCHAR", "Why the step failed."),
    Column("started_at", "TIMESTAMP", "Step start (UTC)."),
    Column("duration_ms", "DOUBLE", "Step duration in milliseconds."),
    Column("trace_id", "VARCHAR", "The step span's trace.", nullable=False),
    Column("span_id", "VARCHAR", "The step span.", nullable=False),
    Column("parent_span_id", "VARCHAR", "The step span's parent."),
    Column("name", "VARCHAR", "Span name."),
    Column("status", "VARCHAR", "running, ok or error.", nullable=False),
    Column("model", "VARCHAR", "The model called (think steps)."),
    Column("input_tokens", "BIGINT", "Prompt tokens of the call."),
    Column("output_tokens", "BIGINT", "Completion tokens of the call."),
    Column("finish_reasons", "VARCHAR", "The model's finish reasons."),
    Column(
        "is_final",
        "BOOLEAN",
        "True once the finished step span arrived.",
        nullable=False,
        constraint="DEFAULT FALSE",
    ),
    # A command run on a server (the span's ssh.* attributes; collector/server_commands.py).
    Column(
        "command",
        "VARCHAR",
        "The command run on a server: its argv shell-quoted, or the text given if it did "
        "not parse.",
        since=9,
    ),
    Column("command_host", "VARCHAR", "Where the command was sent: user@host:port.", since=9),
    Column("command_decision", "VARCHAR", "allowed or refused.", since=9),
    Column("command_reason", "VARCHAR", "Why the command was allowed or refused.", since=9),
    Column(
        "command_exit_code",
        "INTEGER",
        "The command's exit code; NULL when it never ran.",
        since=9,
    ),
)


def names(columns: Iterable[Column]) -> tuple[str, ...]:
    return tuple(c.name for c in columns)


def arrow_schema(columns: Iterable[Column], only: Iterable[str] | None = None) -> pa.Schema:
    """Arrow schema of ``columns`` (in declaration order), or of those named in ``only``."""
    wanted = None if only is None else set(only)
    return pa.schema(
        [(c.name, c.arrow_type) for c in columns if wanted is None or c.name in wanted]
    )


class ArrowSchema:
    """:func:`arrow_schema` for a module-level constant: its names at once, the
    Arrow schema at first use, so that importing the module does not load pyarrow."""

    def __init__(self, columns: Iterable[Column], only: Iterable[str] | None = None) -> None:
        wanted = None if only is None else set(only)
        self._columns = tuple(c for c in columns if wanted is None or c.name in wanted)
        self.names: tuple[str, ...] = names(self._columns)

    @functools.cached_property
    def schema(self) -> pa.Schema:
        return arrow_schema(self._columns)


def column_ddl(columns: Iterable[Column], since: int) -> list[str]:
    """Column definitions of the columns added in schema version ``since``."""
    return [c.ddl for c in columns if c.since == since]
