"""What the /sql worker costs: refreshing its copy, against the database's size.

The worker answers from a copy of the documented tables, rebuilt whole before a
query when the collector committed anything since the last one. This loads
agent-shaped runs into a store, then times a query (a) after a commit that
changed nothing visible (housekeeping: the fingerprint check skips the copy),
(b) after a commit that changed a table (the whole copy is rebuilt), and (c) again
on the fresh copy, for growing sizes; it prints ms and refresh ms per 1,000 spans
(a flat figure means the refresh is linear in the data).

    PYTHONPATH=$PWD python -m bench.sql_sandbox --sizes 200 800 3200
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.sql_guard import check_read_only
from collector.sql_sandbox import SqlSandbox
from collector.store import RunStore


def measure(runs: int, workdir: Path) -> dict[str, float]:
    store = RunStore(workdir / f"bench-{runs}.duckdb", startup_read_check=False)
    sandbox = SqlSandbox(store)
    try:
        for request in generate_requests(WorkloadSpec(runs=runs)):
            store.write_spans(decode_protobuf(request.body).spans)
        query = check_read_only("SELECT count(*) FROM spans")
        sandbox.run(check_read_only("SELECT 1"), max_rows=1, timeout_s=60)  # start the worker
        store.write(lambda con: con.execute("SELECT 1"))  # a commit that changes nothing
        started = time.perf_counter()
        sandbox.run(query, max_rows=1, timeout_s=60)
        noop_ms = (time.perf_counter() - started) * 1000
        store.write(
            lambda con: con.execute(
                "INSERT INTO cancel_requests VALUES ('bench', now()::TIMESTAMP, 'bench', 'x')"
            )
        )
        started = time.perf_counter()
        result = sandbox.run(query, max_rows=1, timeout_s=60)
        refreshed_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        sandbox.run(query, max_rows=1, timeout_s=60)
        fresh_ms = (time.perf_counter() - started) * 1000
        spans = int(result["rows"][0][0])
        db_mb = sum(p.stat().st_size for p in workdir.glob(f"bench-{runs}.duckdb*")) / 1e6
    finally:
        sandbox.close()
        store.close()
    return {
        "runs": runs,
        "spans": spans,
        "db_mb": round(db_mb, 1),
        "query_after_noop_commit_ms": round(noop_ms, 1),
        "query_after_change_ms": round(refreshed_ms, 1),
        "query_on_fresh_copy_ms": round(fresh_ms, 1),
        "refresh_ms_per_1000_spans": round((refreshed_ms - fresh_ms) / spans * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 800, 3200])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for runs in args.sizes:
            print(json.dumps(measure(runs, Path(tmp))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
