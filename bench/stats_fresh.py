"""Every run's stats right after new runs were committed: the folded figures against plain SQL.

    python -m bench.stats_fresh --db /tmp/bench-query/1m.duckdb [--rounds 9] [--runs-per-round 20]
        [--long-run [--long-run-hours 24]]

Works on a copy of ``--db`` (the file is left as it was), in one process, with
DuckDB set up as the collector sets it (one thread; ``--memory-mb``, 1 GB). Each round commits
``--runs-per-round`` new runs through the writer's ``ingest_batch`` (started
after the store's newest run, so every answer is out of date), then times
``run_stats`` over all runs with no kept answer: with the folded figures
(collector/stats_all_runs.py) and with the plain SQL, alternated. The first
folded call folds every run (printed apart). Prints p50/p95 per way (wall, and
p50 of the calling thread's CPU time, steadier on a shared machine), the largest
relative difference of the run duration percentiles (exact: 0) and of the tools'
p95 (from buckets), and the load average.

With ``--long-run`` a run that started a day (``--long-run-hours``) before the
newest one (long folded by then) is shown running first, and each round commits a few of its steps
instead of new runs; its end is committed with the last round.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.collector_proc import percentile
from bench.workload import WorkloadSpec, generate_requests
from collector.db_open import open_database
from collector.decode import SpanRecord, decode_protobuf
from collector.ingest import IngestState, ingest_batch
from collector.mapping import SpanClass, classify
from collector.queries import RunFilters
from collector.query_stats import run_stats
from collector.schema import migrate
from collector.stats_all_runs import AllRunsStats
from instrumentation import attributes as A


def _timed(fn: Any) -> tuple[float, float, Any]:
    """Wall and this thread's CPU ms (with one DuckDB thread the query runs on the caller's)."""
    began, cpu = time.perf_counter(), time.thread_time()
    answer = fn()
    return (time.perf_counter() - began) * 1000, (time.thread_time() - cpu) * 1000, answer


def _long_run(start: datetime, rounds: int) -> list[list[SpanRecord]]:
    """One run's commits: its pending copy (running), its steps a few a round, its end last."""
    spec = WorkloadSpec(
        runs=1,
        steps=4 * rounds,
        runs_per_request=1,
        seed=43,
        base_time_ns=int((start - datetime(1970, 1, 1)).total_seconds()) * 10**9,
    )
    (spans,) = [decode_protobuf(r.body).spans for r in generate_requests(spec)]
    (run,) = [s for s in spans if classify(s) is SpanClass.RUN]
    steps = [s for s in spans if s is not run]
    attributes = {
        k: v for k, v in run.attributes.items() if k not in (A.RUN_STATUS, A.RUN_FINAL_ANSWER)
    }
    attributes.update({A.PENDING: True, A.PENDING_PARENT_ID: run.span_id})
    pending = dataclasses.replace(
        run,
        span_id="f" * 16,
        parent_span_id=run.span_id,
        end_ns=run.start_ns,
        status_code=0,
        attributes=attributes,
    )
    commits = [[pending]] + [steps[n : n + 4] for n in range(0, len(steps), 4)]
    commits[-1].append(run)
    return commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--runs-per-round", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    # The collector starts at 256 MB and raises its limit when a commit runs out (up to
    # a ceiling, collector/memory_limit.py); a commit into a copy of 1M runs needs more.
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--min-runs", type=int, default=100_000, help="fold from this many runs")
    parser.add_argument("--long-run", action="store_true", help="commit an old run's steps")
    parser.add_argument(
        "--long-run-hours", type=float, default=24.0, help="its start before the newest run's"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.db.parent) as work:
        path = Path(work) / "copy.duckdb"
        shutil.copyfile(args.db, path)
        con = open_database(path, args.memory_mb, args.threads)
        migrate(con)
        newest = con.execute("SELECT max(started_at) FROM agent_runs").fetchone()[0]  # type: ignore[index]
        start = newest + timedelta(seconds=1)
        spec = WorkloadSpec(
            runs=args.runs_per_round * args.rounds,
            steps=8,
            runs_per_request=args.runs_per_round,
            seed=41,
            base_time_ns=int((start - datetime(1970, 1, 1)).total_seconds()) * 10**9,
            run_spacing_ns=3 * 10**9,
        )
        requests = [decode_protobuf(r.body).spans for r in generate_requests(spec)]
        if args.long_run:
            requests = _long_run(newest - timedelta(hours=args.long_run_hours), args.rounds)
        folded_stats = AllRunsStats(min_runs=args.min_runs)
        state = IngestState()
        load_before = os.getloadavg()[0]
        first_ms, first_cpu_ms, _ = _timed(
            lambda: run_stats(con, RunFilters(), cache=None, all_runs=folded_stats)
        )
        folded: list[float] = []
        plain: list[float] = []
        folded_cpu: list[float] = []
        plain_cpu: list[float] = []
        worst_run = worst_tool = 0.0
        for n, spans in enumerate(requests):
            con.execute("BEGIN")
            ingest_batch(con, spans, state, datetime.now(UTC).replace(tzinfo=None))
            con.execute("COMMIT")
            if n == 0 and args.long_run:
                run_stats(con, RunFilters(), cache=None, all_runs=folded_stats)
                continue  # the pending copy: the run now running, folded again on the old code
            ways = [("folded", folded_stats), ("plain", None)]
            answers: dict[str, Any] = {}
            for name, way in ways if n % 2 == 0 else ways[::-1]:
                ms, cpu_ms, answers[name] = _timed(
                    lambda way=way: run_stats(con, RunFilters(), cache=None, all_runs=way)
                )
                (folded if name == "folded" else plain).append(ms)
                (folded_cpu if name == "folded" else plain_cpu).append(cpu_ms)
            a, b = answers["folded"], answers["plain"]
            assert a["total_runs"] == b["total_runs"] and a["top_tools"] == [
                {**t, "p95_duration_ms": a_t["p95_duration_ms"]}
                for t, a_t in zip(b["top_tools"], a["top_tools"], strict=True)
            ], "the two ways disagree"
            for q in ("p50", "p95"):
                if b["duration_ms"][q]:
                    worst_run = max(worst_run, abs(a["duration_ms"][q] / b["duration_ms"][q] - 1))
            for mine, theirs in zip(a["top_tools"], b["top_tools"], strict=True):
                if theirs["p95_duration_ms"]:
                    ratio = mine["p95_duration_ms"] / theirs["p95_duration_ms"]
                    worst_tool = max(worst_tool, abs(ratio - 1))
        con.close()
    print(
        json.dumps(
            {
                "runs": b["total_runs"],
                "rounds": args.rounds,
                "long_run_hours": args.long_run_hours if args.long_run else None,
                "whole_folds": getattr(folded_stats, "folds", None),
                "first_folded_call_ms": round(first_ms, 1),
                "first_folded_call_cpu_ms": round(first_cpu_ms, 1),
                "folded_cpu_ms_p50": round(percentile(folded_cpu, 50), 1),
                "plain_cpu_ms_p50": round(percentile(plain_cpu, 50), 1),
                "folded_ms_p50": round(percentile(folded, 50), 1),
                "folded_ms_p95": round(percentile(folded, 95), 1),
                "plain_ms_p50": round(percentile(plain, 50), 1),
                "plain_ms_p95": round(percentile(plain, 95), 1),
                "run_duration_p50_p95_largest_relative_difference": worst_run,
                "tool_p95_largest_relative_difference": round(worst_tool, 5),
                "loadavg_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
