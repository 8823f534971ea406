"""A run's steps read through their start times answer as the plain scan by run id.

With the run id index, ``get_run`` and ``get_steps`` first read the start times of
the run's steps through the index and then scan only between the first and the
last (collector/queries.py ``_steps_of``). The store here is written by the
writer's own functions into row groups of 2,048 rows, so a run's steps lie in
several of them: the steps of hundreds of runs arrive shuffled across commits, a
long run commits its steps part by part while it is still running, one step
starts two days after its run, one has no start, one run has no steps. After each
change every run's page, and pages of its steps, must equal what the same
snapshot answers without the index (``without_indexes``: the plain statement).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector import queries
from collector.decode import SpanRecord, decode_protobuf
from collector.ingest import IngestState, ingest_batch
from collector.mapping import SpanClass, classify
from collector.query_snapshot import has_step_index, without_indexes
from collector.schema import migrate
from instrumentation import attributes as A

_BASE = datetime(2026, 9, 21)
_ROW_GROUP = 2048


def _spans(seed: int, runs: int, steps: int, spacing: timedelta) -> list[SpanRecord]:
    spec = WorkloadSpec(
        runs=runs,
        steps=steps,
        runs_per_request=10,
        seed=seed,
        result_bytes=(40, 200),
        base_time_ns=int((_BASE - datetime(1970, 1, 1)).total_seconds()) * 10**9,
        run_spacing_ns=int(spacing.total_seconds() * 10**9),
        service_name=f"agent-{seed}",
    )
    return [s for r in generate_requests(spec) for s in decode_protobuf(r.body).spans]


class _Store:
    def __init__(self, path: Path) -> None:
        self.con = duckdb.connect()
        # Small row groups: a few thousand steps spread over several, as millions do.
        self.con.execute(f"ATTACH '{path}' AS store (ROW_GROUP_SIZE {_ROW_GROUP})")
        self.con.execute("USE store")
        self.con.execute("SET TimeZone = 'UTC'")
        migrate(self.con)
        self.state = IngestState()
        self.now = datetime(2026, 12, 1)

    def commit(self, sql: str, params: list[object]) -> None:
        self.con.execute("BEGIN")
        self.con.execute(sql, params)
        self.con.execute("COMMIT")

    def ingest(self, spans: list[SpanRecord]) -> None:
        self.now += timedelta(seconds=1)
        self.con.execute("BEGIN")
        ingest_batch(self.con, spans, self.state, self.now)
        self.con.execute("COMMIT")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self.con.cursor()
        cur.execute("USE store")  # a cursor starts in the in-memory database
        return cur

    def runs_of_trace(self, trace_id: str) -> list[str]:
        rows = self.con.execute(
            "SELECT DISTINCT agent_run_id FROM agent_steps WHERE trace_id = ?", [trace_id]
        ).fetchall()
        assert len(rows) == 1
        return [rows[0][0]]

    def check(self, run_ids: list[str]) -> int:
        """Every run's page and step pages equal the plain scan's; how many runs had steps."""
        cur = self.cursor()
        assert has_step_index(cur)
        with_steps = 0
        for run_id in run_ids:
            page = queries.get_run(cur, run_id, now=self.now)
            with without_indexes():
                assert queries.get_run(cur, run_id, now=self.now) == page, run_id
            with_steps += bool(page["steps"])
            for after, limit in ((0, 3), (2, 5), (7, 1000)):
                steps = queries.get_steps(cur, run_id, after_step=after, limit=limit)
                with without_indexes():
                    plain = queries.get_steps(cur, run_id, after_step=after, limit=limit)
                assert steps == plain, (run_id, after, limit)
        return with_steps


def _pending(run: SpanRecord) -> SpanRecord:
    """The run's pending copy, as the instrumentation sends at its start: shown running."""
    attributes = {
        k: v for k, v in run.attributes.items() if k not in (A.RUN_STATUS, A.RUN_FINAL_ANSWER)
    }
    attributes[A.PENDING] = True
    attributes[A.PENDING_PARENT_ID] = run.span_id
    return dataclasses.replace(
        run,
        span_id=f"{int(run.span_id, 16) ^ 1:016x}",
        parent_span_id=run.span_id,
        end_ns=run.start_ns,
        status_code=0,
        attributes=attributes,
    )


def test_steps_read_between_their_starts_equal_the_plain_scan(tmp_path: Path) -> None:
    pick = random.Random(7)
    store = _Store(tmp_path / "steps.duckdb")
    # 400 runs 3 s apart, 6 steps each, their spans shuffled over 20 commits: each
    # run's steps land in rows far apart, among other runs' steps.
    crowd = _spans(3, 400, 6, timedelta(seconds=3))
    pick.shuffle(crowd)
    # A long run of 60 steps, committed a fifth at a time between the others' commits,
    # its run span last: a run still growing while it is read.
    long = _spans(4, 1, 60, timedelta(seconds=1))
    long_steps = [s for s in long if classify(s) is not SpanClass.RUN]
    parts = [long_steps[n::5] for n in range(5)]
    long_run = [s for s in long if classify(s) is SpanClass.RUN]
    store.ingest([_pending(long_run[0])])
    chunk = len(crowd) // 20
    for n in range(20):
        store.ingest(crowd[n * chunk : (n + 1) * chunk if n < 19 else len(crowd)])
        if n % 4 == 0 and parts:
            store.ingest(parts.pop(0))
            assert store.check(store.runs_of_trace(long_steps[0].trace_id)) == 1
    assert store.con.execute(
        "SELECT status FROM agent_runs WHERE id = ?", store.runs_of_trace(long_run[0].trace_id)
    ).fetchone() == ("running",)
    store.ingest(long_run)

    run_ids = store.con.execute("SELECT id FROM agent_runs ORDER BY id").fetchall()
    ids = [r[0] for r in run_ids]
    assert len(ids) == 401
    long_id = store.con.execute(
        "SELECT agent_run_id FROM agent_steps GROUP BY ALL HAVING count(*) = 60"
    ).fetchone()
    assert long_id is not None
    # Where it matters: a run's steps in more than one row group.
    spread = store.con.execute(
        f"SELECT max(groups) FROM (SELECT count(DISTINCT rowid // {_ROW_GROUP}) AS groups "
        "FROM agent_steps GROUP BY agent_run_id)"
    ).fetchone()
    assert spread is not None and spread[0] >= 2

    # A step two days after its run, a step with no start, a run with no steps.
    store.commit(
        "UPDATE agent_steps SET started_at = started_at + INTERVAL 2 DAY "
        "WHERE id = (SELECT min(id) FROM agent_steps WHERE agent_run_id = ?)",
        [ids[0]],
    )
    store.commit(
        "UPDATE agent_steps SET started_at = NULL "
        "WHERE id = (SELECT max(id) FROM agent_steps WHERE agent_run_id = ?)",
        [ids[1]],
    )
    store.commit("DELETE FROM agent_steps WHERE agent_run_id = ?", [ids[2]])
    sample = [long_id[0], *ids[:3], *pick.sample(ids, 25)]
    assert store.check(sample) >= len(set(sample)) - 1
    # Once checkpointed, the row groups' min/max are on disk and skip rows for real.
    store.con.execute("CHECKPOINT")
    assert store.check(sample) >= len(set(sample)) - 1
    with pytest.raises(queries.RunNotFound):
        queries.get_steps(store.cursor(), "no-such-run")
    store.con.close()
