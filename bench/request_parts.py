"""What a request of many tiny parts costs the collector, and what an honest batch costs.

Sends, one at a time over OTLP/HTTP, to a real collector: honest SDK-sized
batches (512 spans, 300 attributes each, protobuf and JSON) and hostile ones
(300,000 minimal spans; 3,000,000 empty events on one span, protobuf and
JSON; an attribute whose array value holds 3,000,000 empty values). For each:
the HTTP status, seconds until the answer, the collector's CPU seconds, and
its peak RSS during the request over its RSS before (VmHWM, reset before each
request through ``/proc/<pid>/clear_refs``).

With ``--baseline TREE`` a second collector runs from another checkout (e.g.
``git archive`` of an older commit) and each request goes to both in turn.

Usage::

    PYTHONPATH=$PWD python -m bench.request_parts
    PYTHONPATH=$PWD python -m bench.request_parts --baseline /tmp/old-tree
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.collector_proc import (
    SpawnedCollector,
    collectors_per_tree,
    proc_cpu_s,
    proc_status_kb,
    wait_applied,
)
from bench.reliability.otlp_requests import kv, to_otlp_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def _request(spans: list[Span]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.append(kv("service.name", "bench-parts"))
    resource.scope_spans.add().spans.extend(spans)
    return request


def honest_batch() -> ExportTraceServiceRequest:
    """512 spans of 300 attributes each, what a busy SDK batch can look like."""
    trace = os.urandom(16)
    start = time.time_ns()
    return _request(
        [
            Span(
                trace_id=trace,
                span_id=os.urandom(8),
                name=f"execute_tool tool-{index}",
                start_time_unix_nano=start,
                end_time_unix_nano=start + 1000,
                attributes=[
                    kv(f"app.field.{key}", f"value {key} of {index}") for key in range(300)
                ],
            )
            for index in range(512)
        ]
    )


def minimal_spans(count: int) -> ExportTraceServiceRequest:
    trace = os.urandom(16)
    return _request(
        [
            Span(
                trace_id=trace,
                span_id=(index + 1).to_bytes(8, "big"),
                name="s",
                start_time_unix_nano=1,
                end_time_unix_nano=2,
            )
            for index in range(count)
        ]
    )


def _one_span() -> tuple[ExportTraceServiceRequest, Span]:
    request = minimal_spans(1)
    return request, request.resource_spans[0].scope_spans[0].spans[0]


def empty_events(count: int) -> ExportTraceServiceRequest:
    request, span = _one_span()
    for _ in range(count):
        span.events.add()
    return request


def empty_array_values(count: int) -> ExportTraceServiceRequest:
    request, span = _one_span()
    values = span.attributes.add(key="list").value.array_value.values
    values.extend(AnyValue() for _ in range(count))
    return request


def json_body(request: ExportTraceServiceRequest) -> bytes:
    return json.dumps(to_otlp_json(request), separators=(",", ":")).encode()


def json_empty_events(count: int) -> bytes:
    """OTLP/JSON of one span carrying ``count`` empty events, written directly."""
    document = to_otlp_json(minimal_spans(1))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"] = "@@events@@"
    text = json.dumps(document, separators=(",", ":"))
    return text.replace('"@@events@@"', "[" + ",".join(["{}"] * count) + "]").encode()


CASES: list[tuple[str, str, Callable[[], bytes]]] = [
    ("honest 512 spans x 300 attrs", PROTOBUF, lambda: honest_batch().SerializeToString()),
    ("honest 512 spans x 300 attrs", JSON, lambda: json_body(honest_batch())),
    ("300,000 minimal spans", PROTOBUF, lambda: minimal_spans(300_000).SerializeToString()),
    ("3,000,000 empty events", PROTOBUF, lambda: empty_events(3_000_000).SerializeToString()),
    ("3,000,000 empty events", JSON, lambda: json_empty_events(3_000_000)),
    # Just under the default budget: what an accepted request of tiny parts still costs.
    ("50,000 minimal spans", PROTOBUF, lambda: minimal_spans(50_000).SerializeToString()),
    ("499,000 empty events", PROTOBUF, lambda: empty_events(499_000).SerializeToString()),
    ("499,000 empty events", JSON, lambda: json_empty_events(499_000)),
    (
        "array of 3,000,000 values",
        PROTOBUF,
        lambda: empty_array_values(3_000_000).SerializeToString(),
    ),
]


def _reset_peak(pid: int) -> None:
    # "5" resets VmHWM to the current RSS (man 5 proc, clear_refs).
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")


def send(
    collector: SpawnedCollector, content_type: str, body: bytes
) -> tuple[int, float, float, int]:
    """(status, seconds to the answer, collector CPU s, peak RSS growth in MB)."""
    pid = collector.pid
    _reset_peak(pid)
    rss_before = proc_status_kb(pid, "VmRSS")
    cpu_before = proc_cpu_s(pid)
    started = time.monotonic()
    response = httpx.post(
        collector.http_url + "/v1/traces",
        content=body,
        headers={"content-type": content_type},
        timeout=900,
    )
    seconds = time.monotonic() - started
    wait_applied(collector, timeout_s=900)
    cpu = proc_cpu_s(pid) - cpu_before
    peak = proc_status_kb(pid, "VmHWM")
    return response.status_code, seconds, cpu, (peak - rss_before) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    with collectors_per_tree(args.baseline, "request-parts-") as collectors:
        print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
        print(
            f"{'request':<30} {'type':<9} {'MB':>5}  "
            + "  ".join(f"{label + ': status s cpu +RSS MB':>34}" for label in collectors)
        )
        for name, content_type, build in CASES:
            if args.only and args.only not in name:
                continue
            body = build()
            cells = []
            for collector in collectors.values():
                status, seconds, cpu, grown = send(collector, content_type, body)
                cells.append(f"{status:>13} {seconds:6.2f} {cpu:6.2f} {grown:6d}")
            kind = "json" if content_type == JSON else "protobuf"
            size = len(body) / 1e6
            print(f"{name:<30} {kind:<9} {size:5.1f}  " + "  ".join(cells), flush=True)
            del body


if __name__ == "__main__":
    main()
