"""What one small ``/sql`` query costs end to end, against another tree.

The query worker defines its checking macros (collector/sql_deep_json.py,
collector/sql_string_sizes.py) on the cursor a query runs on. This sends
``--queries`` times ``SELECT count(*) FROM spans`` to a collector of this tree
and, with ``--baseline TREE``, to one of another checkout, alternating the two
round by round so that the machine's load falls on both alike, and prints the
median and p90 wall time per query and this tree's median against the baseline's.

    PYTHONPATH=$PWD python -m bench.sql_query_setup --queries 200 --rounds 5 \
        --baseline /tmp/old-tree
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.collector_proc import collectors_per_tree, percentile
from bench.reliability.otlp_requests import kv

__all__ = ["main"]

QUERY = "SELECT count(*) FROM spans"


def _one_span() -> bytes:
    request = ExportTraceServiceRequest()
    now = time.time_ns()
    request.resource_spans.add().scope_spans.add().spans.append(
        Span(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="chat model",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1000,
            attributes=[kv("gen_ai.operation.name", "chat")],
        )
    )
    return request.SerializeToString()


def _query_s(client: httpx.Client, url: str) -> float:
    began = time.perf_counter()
    answer = client.post(f"{url}/sql", json={"sql": QUERY})
    took = time.perf_counter() - began
    answer.raise_for_status()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200, help="queries per tree per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare")
    args = parser.parse_args()
    with collectors_per_tree(args.baseline, "sql-setup-") as collectors:
        times: dict[str, list[float]] = {label: [] for label in collectors}
        with httpx.Client(timeout=60) as client:
            for collector in collectors.values():
                client.post(
                    f"{collector.http_url}/v1/traces",
                    content=_one_span(),
                    headers={"content-type": "application/x-protobuf"},
                ).raise_for_status()
                for _ in range(20):  # the first copy, and a warm worker
                    _query_s(client, collector.http_url)
            for _ in range(args.rounds):
                for label, collector in collectors.items():
                    times[label] += [
                        _query_s(client, collector.http_url) for _ in range(args.queries)
                    ]
    report: dict[str, object] = {
        label: {
            "median_ms": round(statistics.median(values) * 1000, 2),
            "p90_ms": round(percentile(values, 90) * 1000, 2),
            "queries": len(values),
        }
        for label, values in times.items()
    }
    if "baseline" in times:
        report["median this tree / baseline"] = round(
            statistics.median(times["this tree"]) / statistics.median(times["baseline"]), 3
        )
    report["load_average"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
