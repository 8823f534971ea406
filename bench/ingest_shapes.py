"""Writer CPU per commit for this project's spans and for other frameworks' spans.

In-process, ``ingest_batch`` alone (no receivers, no journal), on a copy of a
given store or a fresh file, timed as the writer thread's CPU per commit:

- ``own``: runs as the instrumentation sends them, whole, every span with its
  ``agent_run.id`` (bench.workload's requests).
- ``foreign``: the same runs as other frameworks send them: no ``agent_run.id``,
  and each run span one request after its steps (a run span ends last), so
  steps first go under stand-in runs and move when their run arrives.

With ``--statements`` the costliest statements are listed per commit; with
``--phases``, the thread CPU per commit of each step ``ingest_batch`` calls
(inclusive: a step's statements count in it) and of the COMMIT. Usage::

    python -m bench.ingest_shapes --runs 1000 [--db-from /tmp/bench-query/100k.duckdb]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import inspect
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.workload import WorkloadSpec, generate_requests
from collector import ingest
from collector.chain import load_head
from collector.db_open import open_database
from collector.decode import SpanRecord, decode_protobuf
from collector.mapping import SpanClass, classify
from collector.redact import Sanitizer
from collector.schema import migrate
from instrumentation import attributes as A


class _TimedConnection:
    """Forwards to a DuckDB connection, adding each statement's thread CPU to ``cost``."""

    def __init__(self, con: Any, cost: dict[str, float]) -> None:
        self._con = con
        self._cost = cost

    def execute(self, sql: str, *args: Any) -> Any:
        began = time.thread_time()
        result = self._con.execute(sql, *args)
        self._cost[" ".join(sql.split())[:90]] += time.thread_time() - began
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _without_run_id(span: SpanRecord) -> SpanRecord:
    attributes = {k: v for k, v in span.attributes.items() if k != A.RUN_ID}
    return dataclasses.replace(span, attributes=attributes)


def _batches(runs: int, shape: str) -> list[list[SpanRecord]]:
    spec = WorkloadSpec(runs=runs, runs_per_request=50)
    sanitizer = Sanitizer()
    requests = [sanitizer.apply(decode_protobuf(r.body).spans) for r in generate_requests(spec)]
    if shape == "own":
        return requests
    batches: list[list[SpanRecord]] = []
    held: list[SpanRecord] = []
    for spans in requests:
        spans = [
            dataclasses.replace(
                s, attributes={k: v for k, v in s.attributes.items() if k != A.RUN_ID}
            )
            for s in spans
        ]
        runs_now = [s for s in spans if classify(s) is SpanClass.RUN]
        batches.append([s for s in spans if classify(s) is not SpanClass.RUN] + held)
        held = runs_now
    batches.append(held)
    return batches


# The writer inserts spans without the conflict check first (trees before that had no
# such argument, and always checked).
_AS_THE_WRITER: dict[str, Any] = (
    {"spans_new": True} if "spans_new" in inspect.signature(ingest.ingest_batch).parameters else {}
)


# The steps of ingest_batch that --phases times, by their names in collector/ingest.py
# (a name an older tree lacks is skipped, so the same command runs on it).
_PHASES = (
    "span_columns",
    "columns_table",
    "append_rows",
    "told_tool_spans",
    "one_step_per_model_call",
    "one_step_per_call_side_by_side",
    "program_roots_as_runs",
    "classify_guarded",
    "mapped_or_none",
    "keep_ids_in_their_trace",
    "fresh_runs",
    "_upsert_runs",
    "_upsert_steps",
    "adopt_orphans",
    "place_rootless_steps",
    "replace_corrected_steps",
    "refresh_runs",
    "runs_reading_across",
    "derive_foreign_runs",
    "fill_live_tasks",
    "fail_cut_runs_on_a_failed_step",
)


def _timed(fn: Callable[..., Any], name: str, cost: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cost[name] += time.thread_time() - began

    return timed


@contextlib.contextmanager
def _phases_timed(cost: dict[str, float]) -> Iterator[None]:
    """ingest_batch's steps add their thread CPU to ``cost`` while in the block."""
    saved = {name: getattr(ingest, name) for name in _PHASES if hasattr(ingest, name)}
    for name, fn in saved.items():
        setattr(ingest, name, _timed(fn, name, cost))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(ingest, name, fn)


def measure(db: Path, runs: int, shape: str) -> dict[str, Any]:
    con = open_database(db)
    migrate(con)
    cost: dict[str, float] = collections.defaultdict(float)
    phases: dict[str, float] = collections.defaultdict(float)
    timed = _TimedConnection(con, cost)
    state = ingest.IngestState(chain_head=load_head(con))
    now = datetime.now(UTC).replace(tzinfo=None)
    batches = _batches(runs, shape)
    per_commit: list[float] = []
    with _phases_timed(phases):
        for batch in batches:
            began = time.thread_time()
            con.execute("BEGIN TRANSACTION")
            ingest.ingest_batch(timed, batch, state, now, **_AS_THE_WRITER)  # type: ignore[arg-type]
            committing = time.thread_time()
            con.execute("COMMIT")
            phases["COMMIT"] += time.thread_time() - committing
            per_commit.append(time.thread_time() - began)
    con.close()
    steady = per_commit[2:] or per_commit  # the first commits pay imports and warm-up
    top = sorted(cost.items(), key=lambda item: -item[1])[:8]
    ranked = sorted(phases.items(), key=lambda item: -item[1])
    return {
        "shape": shape,
        "commits": len(batches),
        "spans": sum(len(b) for b in batches),
        "writer_cpu_ms_per_commit": round(sum(steady) / len(steady) * 1000, 1),
        "statements_ms_per_commit": {sql: round(s / len(batches) * 1000, 1) for sql, s in top},
        "phases_ms_per_commit": {name: round(s / len(batches) * 1000, 2) for name, s in ranked},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--db-from", type=Path, help="start each shape from a copy of this store")
    parser.add_argument("--shapes", nargs="+", default=["own", "foreign"])
    parser.add_argument("--statements", action="store_true", help="list the costliest statements")
    parser.add_argument("--phases", action="store_true", help="thread CPU of ingest's steps")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"cores": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp:
        for shape in args.shapes:
            db = Path(tmp) / f"{shape}.duckdb"
            if args.db_from:
                shutil.copyfile(args.db_from, db)
            result = measure(db, args.runs, shape)
            if not args.statements:
                result.pop("statements_ms_per_commit")
            if not args.phases:
                result.pop("phases_ms_per_commit")
            report[shape] = result
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
