"""One commit of more runs and steps than a statement looks up at once.

The writer reads a batch's runs and steps through the id indexes in lists of
a few hundred ids; a commit of several requests holds thousands. Each run must
still get all its steps, numbered in order, once, and the same spans sent
again (an exporter's retry) must change nothing.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import SpanRecord, decode_protobuf
from collector.store import RunStore

_RUNS = 1_200
_STEPS = 8


def _batch() -> list[SpanRecord]:
    spec = WorkloadSpec(runs=_RUNS, steps=_STEPS, result_bytes=(64, 256), runs_per_request=_RUNS)
    (request,) = list(generate_requests(spec))
    return decode_protobuf(request.body).spans


def _summary(db: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("SELECT count(*) FROM agent_runs").fetchone()
        spans = con.execute("SELECT count(*) FROM spans").fetchone()
        per_run = con.execute(
            """
            SELECT r.total_steps, count(s.id), count(DISTINCT s.step_number),
                   min(s.step_number), max(s.step_number)
            FROM agent_runs r LEFT JOIN agent_steps s ON s.agent_run_id = r.id
            GROUP BY r.id, r.total_steps
            """
        ).fetchall()
    finally:
        con.close()
    assert runs is not None and spans is not None
    return int(runs[0]), int(spans[0]), sorted(set(per_run), key=repr)


def test_a_commit_of_thousands_of_runs_links_and_numbers_every_step(tmp_path: Path) -> None:
    db = tmp_path / "large.duckdb"
    spans = _batch()
    assert len(spans) == _RUNS * (_STEPS + 1)
    store = RunStore(db, startup_read_check=False, journal=False)
    try:
        store.write_spans(spans)  # without the journal: one commit, returned once done
        store.write_spans(spans)  # the exporter's retry
        assert store.commits == 2
    finally:
        store.close()
    runs, stored_spans, per_run = _summary(db)
    assert runs == _RUNS
    assert stored_spans == len(spans)
    # Every run: total_steps steps, numbered 1..total_steps without a gap or a repeat.
    assert per_run == [(_STEPS, _STEPS, _STEPS, 1, _STEPS)]
