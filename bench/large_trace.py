"""What a request costs as one trace of many foreign runs grows.

A long-lived session can put thousands of agent runs in one trace. This sends,
one request at a time over OTLP/HTTP, ``--per`` foreign run spans (GenAI
``invoke_agent``, no run id of ours) each with one model call (``chat``) that
holds the run's task and answer, all in one trace, to a real collector, and
prints each request's wall time (posted until applied) and the collector's CPU
for it. An exporter gives up on a request after 10 s by default: a request
whose cost follows the trace instead of the request ends up retried forever.

With ``--repo TREE`` a second collector runs from another checkout (e.g. ``git
archive`` of an older commit) and each request goes to both in turn.

Usage::

    PYTHONPATH=$PWD python -m bench.large_trace --runs 20000 --per 1000
    PYTHONPATH=$PWD python -m bench.large_trace --repo /tmp/old-tree
    PYTHONPATH=$PWD python -m bench.large_trace --runs 5000 --per 500 --scope gcp.vertex.agent
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.collector_proc import collectors_per_tree, cpu_of_request
from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A

START_NS = 1_790_000_000_000_000_000
_RUN_NS = 1_000_000  # each run lasts 1 ms, one after the other


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def foreign_runs(trace: bytes, first: int, count: int, scope: str = "") -> bytes:
    """Runs ``first`` .. ``first + count - 1`` of ``trace``, each a GenAI ``invoke_agent``
    span with one ``chat`` span under it (2 spans a run), under instrumentation ``scope``."""
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.append(kv(A.SERVICE_NAME, "large-trace"))
    scope_spans = resource.scope_spans.add()
    scope_spans.scope.name = scope
    spans = scope_spans.spans
    for n in range(first, first + count):
        run_id, call_id = (2 * n + 1).to_bytes(8, "big"), (2 * n + 2).to_bytes(8, "big")
        start = START_NS + n * _RUN_NS
        spans.append(
            Span(
                trace_id=trace,
                span_id=run_id,
                name=f"invoke_agent agent-{n % 7}",
                start_time_unix_nano=start,
                end_time_unix_nano=start + _RUN_NS - 1,
                attributes=[kv(A.GEN_AI_OPERATION_NAME, A.OP_INVOKE_AGENT)],
            )
        )
        spans.append(
            Span(
                trace_id=trace,
                span_id=call_id,
                parent_span_id=run_id,
                name="chat model-a",
                start_time_unix_nano=start + 1,
                end_time_unix_nano=start + _RUN_NS - 2,
                attributes=[
                    kv(A.GEN_AI_OPERATION_NAME, "chat"),
                    kv("gen_ai.request.model", "model-a"),
                    kv("gen_ai.input.messages", _messages("user", f"task {n}")),
                    kv("gen_ai.output.messages", _messages("assistant", f"answer {n}")),
                ],
            )
        )
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="runs in the trace")
    parser.add_argument("--per", type=int, default=1_000, help="runs (and steps) per request")
    parser.add_argument("--repo", type=Path, help="another checkout to compare")
    parser.add_argument(
        "--scope",
        default="",
        help="the spans' instrumentation scope (gcp.vertex.agent: Google ADK 2's runs, whose "
        "rule reads beyond a run's subtree)",
    )
    args = parser.parse_args()
    with collectors_per_tree(args.repo, "large-trace-") as collectors:
        print(f"cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.1f}")
        print(
            f"{'request':>7} {'runs in trace':>13} "
            + " ".join(f"{label + ' s':>14} {label + ' cpu s':>18}" for label in collectors)
        )
        trace = os.urandom(16)
        walls: dict[str, list[float]] = {label: [] for label in collectors}
        cpus: dict[str, list[float]] = {label: [] for label in collectors}
        for index, first in enumerate(range(0, args.runs, args.per)):
            body = foreign_runs(trace, first, min(args.per, args.runs - first), args.scope)
            cells = []
            for label, collector in collectors.items():
                started = time.monotonic()
                cpu = cpu_of_request(collector, body)
                walls[label].append(time.monotonic() - started)
                cpus[label].append(cpu)
                cells.append(f"{walls[label][-1]:14.2f} {cpu:18.2f}")
            print(f"{index + 1:7d} {first + args.per:13d} " + " ".join(cells), flush=True)
        print(f"load after: {os.getloadavg()[0]:.1f}")
        # The box is shared: CPU is the steadier figure, and three requests steadier than one.
        for label in collectors:
            print(
                f"{label}: last / first request wall {_ratio(walls[label])}, "
                f"cpu {_ratio(cpus[label])}"
            )


def _ratio(values: list[float]) -> str:
    """The last value over the first, and the mean of the last three over the first three."""
    if not values:
        return "-"
    head, tail = values[:3], values[-3:]
    mean_ratio = (sum(tail) / len(tail)) / (sum(head) / len(head))
    return f"{values[-1] / values[0]:.2f}x (3 vs 3: {mean_ratio:.2f}x)"


if __name__ == "__main__":
    main()
