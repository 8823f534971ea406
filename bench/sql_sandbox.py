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

``--store FILE`` measures the first copy of an existing store instead (use a
copy of the file: the bench opens it as the collector does and writes runs to
it): the time until the first query is answered (the answers before it are
503s with the progress), the worker's peak RSS and address space, the
collector's peak RSS, and the spans per second a writer commits during the
copy against the same writer just before it (ingest must not notice).

    PYTHONPATH=$PWD python -m bench.sql_sandbox --store /tmp/copy-of-1m.duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.collector_proc import proc_status_kb
from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.sql_guard import check_read_only
from collector.sql_sandbox import CopyInProgress, SqlSandbox
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
        worker_ms = (
            _process_cpu_ms(pid) - worker_before if pid and pid == sandbox.worker_pid else 0.0
        )
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


class _Writer:
    """Commits agent runs (9 spans each, 50 runs a request) as fast as it can."""

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._stop = threading.Event()
        self.spans = 0
        self.errors: list[str] = []
        spec = WorkloadSpec(runs=200_000, seed=99, base_time_ns=3 * 10**18)
        self._requests = iter(generate_requests(spec))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            spans = decode_protobuf(next(self._requests).body).spans
            try:
                self._store.write_spans(spans)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the bench goes on
                self.errors.append(str(exc).splitlines()[0])
                continue
            self.spans += len(spans)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class _Peaks:
    """Peak RSS and address space of the worker (whichever is running) and this process."""

    def __init__(self, sandbox: SqlSandbox) -> None:
        self.worker_rss_kb = self.worker_vm_kb = self.collector_rss_kb = 0
        self._sandbox = sandbox
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            pid = self._sandbox.worker_pid
            if pid:
                self.worker_rss_kb = max(self.worker_rss_kb, proc_status_kb(pid, "VmHWM"))
                self.worker_vm_kb = max(self.worker_vm_kb, proc_status_kb(pid, "VmPeak"))
            rss = proc_status_kb(os.getpid(), "VmRSS")
            self.collector_rss_kb = max(self.collector_rss_kb, rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure_first_copy(path: Path, ingest_s: float, db_memory_mb: int) -> dict[str, object]:
    load_before = os.getloadavg()
    store = RunStore(path, startup_read_check=False, memory_limit_mb=db_memory_mb)
    sandbox = SqlSandbox(store)
    query = check_read_only("SELECT count(*) FROM spans")
    writer = _Writer(store)
    writer.start()
    time.sleep(ingest_s)  # the baseline: the same writer, no copy
    baseline = writer.spans / ingest_s
    peaks = _Peaks(sandbox)
    busy_answers: list[str] = []
    started = time.monotonic()
    copy_spans_before = writer.spans
    try:
        while True:
            try:
                sandbox.run(query, max_rows=1, timeout_s=120)
                break
            except CopyInProgress as exc:
                busy_answers.append(str(exc))
                time.sleep(1.0)
        first_s = time.monotonic() - started
        during = (writer.spans - copy_spans_before) / first_s
        writer.stop()
        again = time.perf_counter()
        spans = int(sandbox.run(query, max_rows=1, timeout_s=120)["rows"][0][0])
        refresh_ms = (time.perf_counter() - again) * 1000
    finally:
        writer.stop()
        peaks.stop()
        sandbox.close()
        store.close()
    return {
        "store": str(path),
        "spans": spans,
        "first_answer_s": round(first_s, 1),
        "answers_503_before": len(busy_answers),
        "last_503": busy_answers[-1] if busy_answers else None,
        "next_query_ms": round(refresh_ms, 1),
        "worker_peak_rss_mb": round(peaks.worker_rss_kb / 1024),
        "worker_peak_address_space_mb": round(peaks.worker_vm_kb / 1024),
        "collector_peak_rss_mb": round(peaks.collector_rss_kb / 1024),
        "ingest_spans_per_s_before": round(baseline),
        "ingest_spans_per_s_during_copy": round(during),
        "ingest_ratio": round(during / baseline, 2) if baseline else None,
        "ingest_errors": len(writer.errors),
        "first_ingest_error": writer.errors[0] if writer.errors else None,
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "cores": os.cpu_count(),
        "db_memory_mb": db_memory_mb,
    }


def _process_cpu_ms(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[800, 3200])
    parser.add_argument("--repeat", type=int, default=5, help="rounds per figure (median)")
    parser.add_argument("--store", type=Path, help="measure the first copy of this store")
    parser.add_argument("--ingest-s", type=float, default=20.0, help="baseline ingest window")
    parser.add_argument(
        "--db-memory-mb", type=int, default=256, help="the collector's AGENT_AUDIT_DB_MEMORY_MB"
    )
    args = parser.parse_args(argv)
    if args.store is not None:
        print(json.dumps(measure_first_copy(args.store, args.ingest_s, args.db_memory_mb)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for runs in args.sizes:
            print(json.dumps(measure(runs, Path(tmp), args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
