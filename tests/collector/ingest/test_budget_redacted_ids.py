"""Spans whose redaction time budget ran out still land in their own run.

Under load a request can spend its redaction budget part-way: the values of the
spans after that point, ``agent_run.id`` included, are replaced by one marker.
That marker must not become a run that gathers the steps of unrelated runs.
"""

from __future__ import annotations

from pathlib import Path

from bench.reliability.otlp_requests import build_run_request
from collector.decode import decode_protobuf
from collector.redact import BUDGET_REDACTED, RedactionPolicy, Sanitizer
from collector.store import RunStore


def test_steps_redacted_by_a_spent_budget_stay_with_their_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "budget.duckdb")
    scanned = Sanitizer(RedactionPolicy())
    spent = Sanitizer(RedactionPolicy(time_budget_s=0.0))  # every value replaced whole
    requests = [build_run_request(7, seq, steps=6) for seq in range(3)]
    try:
        for request in requests:
            run_span, *steps = decode_protobuf(request.protobuf()).spans
            # The budget ran out after the run span: its steps keep only their ids.
            redacted = spent.apply(steps)
            assert {s.attributes["agent_run.id"] for s in redacted} == {BUDGET_REDACTED}
            store.write_spans(scanned.apply([run_span]) + redacted)
        runs = store.read(
            lambda con: con.execute("SELECT id, total_steps FROM agent_runs ORDER BY id").fetchall()
        )
        placed = store.read(
            lambda con: con.execute(
                "SELECT agent_run_id, count(*) FROM agent_steps GROUP BY ALL ORDER BY 1"
            ).fetchall()
        )
    finally:
        store.close()
    assert runs == [(r.run_id, 6) for r in requests]
    assert placed == [(r.run_id, 6) for r in requests]
