"""What a request costs as a trace of run-less steps grows.

Steps whose parent span never arrives are gathered under stand-in runs
(collector/rootless_runs.py). This sends, one request at a time, ``--per``
tool steps each under its own missing parent, all in one trace, to a real
collector, and prints the collector's CPU for the request (acknowledged and
applied) every ``--every`` requests. Work per request that follows the
request stays flat; work that follows the trace grows with it.

With ``--baseline TREE`` a second collector runs from another checkout (e.g.
``git archive`` of an older commit) and each request goes to both in turn.

Usage::

    PYTHONPATH=$PWD python -m bench.rootless_growth --requests 51 --per 200
    PYTHONPATH=$PWD python -m bench.rootless_growth --baseline /tmp/old-tree
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.collector_proc import collectors_per_tree, cpu_of_request
from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A

START_NS = 1_790_000_000_000_000_000


def orphan_steps(trace: bytes, first: int, count: int, parent: bytes | None = None) -> bytes:
    """``count`` tool steps of ``trace``, each under its own parent span that is never
    sent (or all under ``parent``)."""
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.append(kv(A.SERVICE_NAME, "rootless-growth"))
    resource.scope_spans.add().spans.extend(
        Span(
            trace_id=trace,
            span_id=(first + n).to_bytes(8, "big"),
            parent_span_id=parent or os.urandom(8),
            name="execute_tool probe",
            start_time_unix_nano=START_NS + first + n,
            end_time_unix_nano=START_NS + first + n + 1,
            attributes=[
                kv(A.GEN_AI_OPERATION_NAME, A.OP_EXECUTE_TOOL),
                kv(A.GEN_AI_TOOL_NAME, "probe"),
            ],
        )
        for n in range(count)
    )
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=51)
    parser.add_argument("--per", type=int, default=200, help="steps per request")
    parser.add_argument("--every", type=int, default=10, help="print every N requests")
    parser.add_argument("--baseline", type=Path, help="another checkout to compare")
    args = parser.parse_args()
    with collectors_per_tree(args.baseline, "rootless-growth-") as collectors:
        print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
        print(
            f"{'steps in trace':>14} "
            + " ".join(f"{label + ' cpu ms':>18}" for label in collectors)
        )
        trace = os.urandom(16)
        for index in range(args.requests):
            body = orphan_steps(trace, index * args.per + 1, args.per)
            cells = [cpu_of_request(c, body) for c in collectors.values()]
            if index % args.every == 0:
                steps = (index + 1) * args.per
                print(
                    f"{steps:14d} " + " ".join(f"{cpu * 1000:18.0f}" for cpu in cells),
                    flush=True,
                )


if __name__ == "__main__":
    main()
