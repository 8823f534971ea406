"""What the /sql worker costs: refreshing its copy, against the database's size.

The worker answers from a copy of the documented tables, refreshed before a
query when the collector committed something visible since the last one. This
loads agent-shaped runs into a store, then times a query (a) after a commit
that changed nothing visible (housekeeping: the fingerprint check skips the
copy), (b) after one more run's spans arrived (a run and its steps are new:
what happens after each change while agents work), (c) after a cancel request
(a small table changed), and (d) again on the fresh copy, for growing sizes.
Each is the median of ``--repeat`` rounds, as wall time and as CPU time (the
collector process plus the worker process, read from /proc: what a busy
machine does not distort). A refresh that copies only what changed shows as a
(b) and (c) that hardly grow with the size; a whole copy grows with it.

    PYTHONPATH=$PWD python -m bench.sql_sandbox --sizes 800 3200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.sql_guard import check_read_only
from collector.sql_sandbox import SqlSandbox
from collector.store import RunStore


def measure(runs: int, workdir: Path, repeat: int) -> dict[str, float]:
    store = RunStore(workdir / f"bench-{runs}.duckdb", startup_read_check=False)
    sandbox = SqlSandbox(store)
    query = check_read_only("SELECT count(*) FROM spans")
    # More runs, each later than the loaded ones: one arrives per round.
    extra = iter(
        generate_requests(
            WorkloadSpec(runs=repeat, runs_per_request=1, seed=runs + 7, base_time_ns=2 * 10**18)
        )
    )

    cpu_samples: list[float] = []

    def timed_query() -> float:
        pid = sandbox.worker_pid
        worker_before = _process_cpu_ms(pid) if pid else 0.0
        cpu_before = time.process_time()
        started = time.perf_counter()
        sandbox.run(query, max_rows=1, timeout_s=120)
        wall_ms = (time.perf_counter() - started) * 1000
        worker_ms = _process_cpu_ms(pid) - worker_before if pid == sandbox.worker_pid else 0.0
        cpu_samples.append((time.process_time() - cpu_before) * 1000 + worker_ms)
        return wall_ms

    def after(change: Callable[[int], object]) -> tuple[float, float]:
        times = []
        cpu_samples.clear()
        for index in range(repeat):
            change(index)
            times.append(timed_query())
        return statistics.median(times), statistics.median(cpu_samples)

    try:
        for request in generate_requests(WorkloadSpec(runs=runs)):
            store.write_spans(decode_protobuf(request.body).spans)
        timed_query()  # start the worker and make the first (whole) copy
        noop_ms = after(lambda _: store.write(lambda con: con.execute("SELECT 1")))
        new_run_ms = after(lambda _: store.write_spans(decode_protobuf(next(extra).body).spans))
        cancel_ms = after(
            lambda i: store.write(
                lambda con: con.execute(
                    "INSERT INTO cancel_requests VALUES (?, now()::TIMESTAMP, 'bench', 'x')",
                    [f"bench-{i}"],
                )
            )
        )
        fresh_ms, fresh_cpu_ms = after(lambda _: None)
        spans = int(sandbox.run(query, max_rows=1, timeout_s=120)["rows"][0][0])
        db_mb = sum(p.stat().st_size for p in workdir.glob(f"bench-{runs}.duckdb*")) / 1e6
    finally:
        sandbox.close()
        store.close()
    return {
        "runs": runs,
        "spans": spans,
        "db_mb": round(db_mb, 1),
        "query_after_noop_commit_ms": round(noop_ms[0], 1),
        "query_after_new_run_ms": round(new_run_ms[0], 1),
        "query_after_cancel_ms": round(cancel_ms[0], 1),
        "query_on_fresh_copy_ms": round(fresh_ms, 1),
        "cpu_after_new_run_ms": round(new_run_ms[1], 1),
        "cpu_after_cancel_ms": round(cancel_ms[1], 1),
        "cpu_on_fresh_copy_ms": round(fresh_cpu_ms, 1),
    }


def _process_cpu_ms(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[800, 3200])
    parser.add_argument("--repeat", type=int, default=5, help="rounds per figure (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for runs in args.sizes:
            print(json.dumps(measure(runs, Path(tmp), args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
