"""Run ids taken from spans go into the writer's SQL as quoted literals.

``agent_run.id`` is whatever a span says. Quotes, SQL text and NUL (where
DuckDB's parser stops reading, so such an id is bound as a parameter) must
each land as the run's id, with its steps counted, on first arrival and when
the run is sent again.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector.db_open import open_database
from collector.decode import SpanRecord, decode_protobuf
from collector.id_lists import in_list
from collector.ingest import IngestState, ingest_batch
from collector.schema import migrate
from instrumentation import attributes as A

# A batch whose ids hold no NUL goes as literals; one id with NUL binds them all.
_QUOTED_IDS = ["o'brien", "''", "x'); DROP TABLE agent_runs; --", "ünïcødé ' \\ \" $1 ?"]
_BOUND_IDS = ["nul\x00inside", "\x00", "it's"]


def _runs_with_ids(ids: list[str]) -> list[SpanRecord]:
    spec = WorkloadSpec(runs=len(ids), steps=3, runs_per_request=len(ids), seed=7)
    (request,) = list(generate_requests(spec))
    spans = decode_protobuf(request.body).spans
    by_old = {}
    for span in spans:
        old = span.attributes.get(A.RUN_ID)
        if old is not None and old not in by_old:
            by_old[old] = ids[len(by_old)]
    return [
        dataclasses.replace(
            s, attributes={**s.attributes, A.RUN_ID: by_old[s.attributes[A.RUN_ID]]}
        )
        if A.RUN_ID in s.attributes
        else s
        for s in spans
    ]


def test_in_list_quotes_literals_and_binds_ids_holding_nul() -> None:
    assert in_list(["a", "o'b"]) == ("'a', 'o''b'", [])
    assert in_list(["a", "n\x00l"]) == ("?, ?", ["a", "n\x00l"])
    assert in_list(["a", "n\x00l"], first=2) == ("$2, $3", ["a", "n\x00l"])


@pytest.mark.parametrize("ids", [_QUOTED_IDS, _BOUND_IDS], ids=["quoted", "bound"])
def test_hostile_run_ids_are_stored_and_counted_when_sent_again(
    tmp_path: Path, ids: list[str]
) -> None:
    con = open_database(tmp_path / "ids.duckdb")
    migrate(con)
    state = IngestState()
    spans = _runs_with_ids(ids)
    now = datetime(2026, 12, 6, 12, 0, 0)
    for attempt in range(2):  # the second time, every id is already stored: the upsert path
        con.execute("BEGIN")
        ingest_batch(con, spans, state, now + timedelta(seconds=attempt))
        con.execute("COMMIT")
        runs = dict(con.execute("SELECT id, total_steps FROM agent_runs").fetchall())
        assert runs == {run_id: 3 for run_id in ids}
        steps = con.execute(
            "SELECT agent_run_id, list(step_number ORDER BY step_number) FROM agent_steps "
            "GROUP BY agent_run_id"
        ).fetchall()
        assert dict(steps) == {run_id: [1, 2, 3] for run_id in ids}
    con.close()
