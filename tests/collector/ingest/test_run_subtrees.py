"""Deriving some runs' fields reads their subtrees, or the whole trace when a rule may
read beyond them (collector/run_subtrees.py).

A trace of many runs is sent a part at a time: each request's derivation must read
the spans of the runs it touched, not every span the trace holds so far.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from collector.db_open import open_database
from collector.decode import SpanRecord
from collector.ingest import IngestState, ingest_batch
from collector.rules import strands
from collector.run_subtrees import spans_of_runs
from collector.schema import migrate
from instrumentation import attributes as A
from tests.records import span_record

_T0 = datetime(2026, 12, 7, 4, 0, 0)
_TRACE = "ab" * 16


def _span(span_id: str, parent: str | None, name: str, **attributes: object) -> SpanRecord:
    scope = str(attributes.pop("scope", ""))
    return span_record(span_id, name=name, parent_span_id=parent, attributes=dict(attributes),
                       trace_id=_TRACE, kind=0, scope_name=scope)  # fmt: skip


def _run(n: int) -> list[SpanRecord]:
    """A foreign run (GenAI ``invoke_agent``), a turn span under it, a model call under that."""
    run, turn, call = f"{n:04x}000000000001", f"{n:04x}000000000002", f"{n:04x}000000000003"
    messages = [{"role": "user", "parts": [{"type": "text", "content": f"task {n}"}]}]
    return [
        _span(run, None, "invoke_agent a", **{A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT}),
        _span(turn, run, "turn"),
        _span(
            call,
            turn,
            "chat m",
            **{A.GEN_AI_OPERATION_NAME: "chat", "gen_ai.input.messages": json.dumps(messages)},
        ),
    ]


@dataclass
class Store:
    con: duckdb.DuckDBPyConnection
    state: IngestState

    def add(self, spans: list[SpanRecord]) -> None:
        self.con.execute("BEGIN")
        ingest_batch(self.con, spans, self.state, _T0)
        self.con.execute("COMMIT")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    con = open_database(tmp_path / "subtrees.duckdb")
    migrate(con)
    store = Store(con, IngestState())
    store.add([s for n in (1, 2, 3) for s in _run(n)])
    return store


def _read(store: Store, *runs: int) -> list[str]:
    rows = spans_of_runs(store.con, _T0, {_TRACE: {_run(n)[0].span_id for n in runs}})
    return sorted(row[1] for row in rows)


def test_a_run_s_subtree_is_read_not_its_trace(store: Store) -> None:
    assert _read(store, 2) == sorted(s.span_id for s in _run(2))
    assert sorted(_read(store, 1, 3)) == sorted(s.span_id for n in (1, 3) for s in _run(n))
    # The runs' fields came from their own subtrees when they were stored.
    tasks = store.con.execute("SELECT task FROM agent_runs ORDER BY id").fetchall()
    assert tasks == [("task 1",), ("task 2",), ("task 3",)]


def test_a_span_of_a_rule_that_reads_across_the_trace_reads_it_whole(
    store: Store,
) -> None:
    (scope,) = strands.SCOPES
    store.add([_span("ffff000000000001", None, "x", scope=scope)])
    assert len(_read(store, 2)) == 3 * 3 + 1


@pytest.mark.parametrize(
    ("given", "whole"),
    [
        ({A.GEN_AI_TOOL_CALL_ID: "c1"}, True),
        ({A.GEN_AI_TOOL_CALL_ID: "c1", A.GEN_AI_TOOL_CALL_ARGUMENTS: "{}"}, True),
        ({A.GEN_AI_TOOL_CALL_ID: "c1", A.GEN_AI_TOOL_CALL_RESULT: "ok"}, True),
        (
            {
                A.GEN_AI_TOOL_CALL_ID: "c1",
                A.GEN_AI_TOOL_CALL_ARGUMENTS: "{}",
                A.GEN_AI_TOOL_CALL_RESULT: "ok",
            },
            False,
        ),
        ({"note": A.GEN_AI_TOOL_CALL_ID}, False),
    ],
)
def test_a_tool_naming_only_its_call_id_reads_the_trace_whole(
    store: Store, given: dict[str, str], whole: bool
) -> None:
    """Its arguments or result are read from the model calls around it in time."""
    tool = _span(
        "eeee000000000001",
        _run(1)[0].span_id,
        "execute_tool t",
        **{A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL, A.GEN_AI_TOOL_NAME: "t", **given},
    )
    store.add([tool])
    assert len(_read(store, 2)) == (3 * 3 + 1 if whole else 3)
