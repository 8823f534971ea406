"""CPU per span of the mapping: span -> run/step row objects -> Arrow tables.

The writer builds one row object per run or step span (collector/mapping.py)
and turns them into Arrow tables for DuckDB (collector/arrow_rows.py); both run
on the single writer thread. In-process, on the same seeded agent-shaped
requests as ``bench.load``; prints JSON (median over rounds, process CPU time).

    python -m bench.mapping_rows --runs 2000 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime

from bench.workload import WorkloadSpec, generate_requests
from collector.arrow_rows import rows_table
from collector.columns import AGENT_RUNS, AGENT_STEPS, arrow_schema
from collector.decode import decode_protobuf
from collector.mapping import SpanClass, build_run, build_step, classify

_RUN_SCHEMA = arrow_schema(c for c in AGENT_RUNS if c.ingested)
_STEP_SCHEMA = arrow_schema(c for c in AGENT_STEPS if c.ingested)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--runs-per-request", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7, help="repeats; the median is printed")
    args = parser.parse_args(argv)

    spec = WorkloadSpec(runs=args.runs, runs_per_request=args.runs_per_request)
    spans = [
        span for request in generate_requests(spec) for span in decode_protobuf(request.body).spans
    ]
    classes = [classify(span) for span in spans]
    now = datetime(2026, 1, 1)
    build_us: list[float] = []
    arrow_us: list[float] = []
    for _ in range(args.rounds):
        started = time.process_time()
        runs = []
        steps = []
        for span, cls in zip(spans, classes, strict=True):
            if cls is SpanClass.RUN:
                runs.append(build_run(span, None))
            elif cls is not SpanClass.OTHER:
                steps.append(build_step(span, cls, None))
        built = time.process_time()
        rows_table(runs, _RUN_SCHEMA, {"updated_at": now})
        rows_table(steps, _STEP_SCHEMA, {})
        finished = time.process_time()
        rows = len(runs) + len(steps)
        build_us.append((built - started) / rows * 1e6)
        arrow_us.append((finished - built) / rows * 1e6)
    result = {
        "rows": rows,
        "rounds": args.rounds,
        "build_us_per_row_p50": round(statistics.median(build_us), 2),
        "arrow_us_per_row_p50": round(statistics.median(arrow_us), 2),
        "total_us_per_row_p50": round(
            statistics.median(b + a for b, a in zip(build_us, arrow_us, strict=True)), 2
        ),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
