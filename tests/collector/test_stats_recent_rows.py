"""The newest runs' figures summed from their rows equal the grouping-sets statement's.

The stats of every run (collector/stats_all_runs.py) sum the few runs after the
fold's bound in Python and the folded part in SQL; both must agree on every
kind of row: no start, no duration, a zero or negative duration, zero steps,
no tokens, no model or source, and durations on the edges of the log buckets.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from collector.db_open import open_database
from collector.duration_buckets import GAMMA, bucket_of, bucket_sql
from collector.schema import migrate
from collector.stats_all_runs import _RUN_FIELDS, _runs_in_python, _runs_in_sql

_BASE = datetime(2026, 11, 30, 22, 0)


def _durations(pick: random.Random) -> list[float]:
    edges = [GAMMA**i for i in (-3, 0, 1, 250, 900, 1400)]
    return [
        *edges,
        *(math.nextafter(v, math.inf) for v in edges),
        *(math.nextafter(v, 0.0) for v in edges),
        0.0,
        -12.5,
        *(pick.uniform(0.001, 4e6) for _ in range(300)),
    ]


def _fill(con: duckdb.DuckDBPyConnection, pick: random.Random) -> None:
    statuses = ["completed", "failed", "running", "lost"]
    rows = []
    for n, duration in enumerate(_durations(pick)):
        started = None if n % 17 == 0 else _BASE + timedelta(seconds=pick.uniform(0, 3 * 3600))
        rows.append(
            (
                f"run-{n}",
                pick.choice(statuses),
                pick.choice(["n8n", "sdk", None]),
                pick.choice(["m-a", None]),
                pick.choice(["m-b", "m-a", None]),
                pick.choice(["agent", None]),
                started,
                None if n % 11 == 0 else duration,
                pick.randint(0, 40),
                None if n % 7 == 0 else pick.randint(0, 9000),
                pick.randint(0, 900),
                _BASE,
                True,
            )
        )
    con.executemany(
        "INSERT INTO agent_runs (id, status, source, model_used, model_requested, agent_name, "
        "started_at, duration_ms, total_steps, input_tokens, output_tokens, updated_at, is_final) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rows_summed_in_python_equal_the_statement(tmp_path: Path, seed: int) -> None:
    con = open_database(tmp_path / "rows.duckdb")
    migrate(con)
    _fill(con, random.Random(seed))
    runs = ("SELECT * FROM agent_runs", [])
    rows = con.execute(f"SELECT {_RUN_FIELDS} FROM agent_runs").fetchall()
    assert _runs_in_python(rows) == _runs_in_sql(con, runs)
    con.close()


def test_a_duration_falls_in_the_bucket_sql_gives_it(tmp_path: Path) -> None:
    con = open_database(tmp_path / "buckets.duckdb")
    values = _durations(random.Random(9))
    con.execute("CREATE TABLE d (v DOUBLE)")
    con.executemany("INSERT INTO d VALUES (?)", [(v,) for v in values])
    in_sql = con.execute(f"SELECT v, {bucket_sql('v')} FROM d").fetchall()
    assert len(in_sql) == len(values)
    for value, sign, index in in_sql:
        assert bucket_of(value) == (sign, index), value
    con.close()
