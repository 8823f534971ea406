"""How ingest grows with agents nested deep in one trace.

Sends, one request each, traces of N agent spans each the sub-agent of the
one above (plus a model call at the bottom) to a real collector, for N
doubling from ``--start``; prints the collector's CPU time per request and
its growth against the previous N. Linear work doubles (ratio ~2); work per
run over the whole trace grows ~4x or worse per doubling.

With ``--baseline TREE`` a second collector runs from another checkout (e.g.
a clone of an older commit) and each size is sent to both in turn.

Usage::

    PYTHONPATH=$PWD python -m bench.deep_nesting --start 250 --doublings 4
    PYTHONPATH=$PWD python -m bench.deep_nesting --baseline /tmp/old-tree
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.collector_proc import collectors_per_tree, cpu_of_request
from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A


def nested_request(depth: int) -> bytes:
    """One trace: ``depth`` agents each under the previous, a model call at the bottom."""
    trace = os.urandom(16)
    start = time.time_ns()
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    parent = b""
    for level in range(depth + 1):
        operation = "chat" if level == depth else "invoke_agent"
        span = Span(
            trace_id=trace,
            span_id=os.urandom(8),
            parent_span_id=parent,
            name=f"{operation} level-{level}",
            start_time_unix_nano=start + level,
            end_time_unix_nano=start + 1_000_000,
            attributes=[kv(A.GEN_AI_OPERATION_NAME, operation)],
        )
        spans.append(span)
        parent = span.span_id
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=250, help="first depth")
    parser.add_argument("--doublings", type=int, default=4)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare")
    args = parser.parse_args()
    with collectors_per_tree(args.baseline, "deep-nesting-") as collectors:
        print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
        print(
            f"{'depth':>6} "
            + " ".join(f"{label + ' cpu s':>16} {'x prev':>7}" for label in collectors)
        )
        previous: dict[str, float] = {}
        for step in range(args.doublings + 1):
            depth = args.start * 2**step
            body = nested_request(depth)
            cells = []
            for label, collector in collectors.items():
                cpu = cpu_of_request(collector, body)
                growth = f"{cpu / previous[label]:.1f}" if label in previous else "-"
                previous[label] = cpu
                cells.append(f"{cpu:16.2f} {growth:>7}")
            print(f"{depth:6d} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
