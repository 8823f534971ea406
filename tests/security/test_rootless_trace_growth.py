"""A trace whose steps' parents never arrive costs each request its own steps,
not the whole trace.

Found from outside: steps whose parent spans never arrive are gathered under
stand-in runs (collector/rootless_runs.py), and every request adding to such
a trace recomputed, and rewrote, every stand-in the trace already had. A
sender adding 200 such steps per request to one trace made each request cost
what the whole trace cost: 0.2 s at 200 steps, 3.3 s at 6,200, 20 s at
20,000 (collector CPU per request, measured: `python -m bench.rootless_growth`),
and the single writer was held for everyone meanwhile. Now only the stand-ins
a step moved into or out of are recomputed; the others are left as they are,
which is what this test checks (the timing is the bench's).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.rootless_growth import START_NS, orphan_steps
from tests.conftest import CollectorHandle
from tests.support import wait_until


def _send(handle: CollectorHandle, body: bytes) -> None:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def _stand_ins(handle: CollectorHandle, trace: str) -> dict[str, tuple[object, int]]:
    rows = handle.query(
        "SELECT id, updated_at, total_steps FROM agent_runs WHERE trace_id = ?", [trace]
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def _stand_ins_once(
    handle: CollectorHandle, trace: bytes, ready: Callable[[dict[str, tuple[object, int]]], bool]
) -> dict[str, tuple[object, int]]:
    def read() -> dict[str, tuple[object, int]]:
        rows = _stand_ins(handle, trace.hex())
        return rows if ready(rows) else {}

    return wait_until(read, timeout_s=30)


def test_a_request_leaves_the_stand_ins_it_does_not_touch_alone(
    collector: CollectorHandle,
) -> None:
    trace = os.urandom(16)
    _send(collector, orphan_steps(trace, 1, 50))
    before = _stand_ins_once(collector, trace, lambda rows: len(rows) == 50)
    assert all(steps == 1 for _, steps in before.values())

    shared_parent = os.urandom(8)
    _send(collector, orphan_steps(trace, 1000, 3, parent=shared_parent))
    after = _stand_ins_once(collector, trace, lambda rows: len(rows) == 51)

    assert after[shared_parent.hex()][1] == 3  # the new stand-in and its three steps
    untouched = {run_id: after[run_id] for run_id in before}
    assert untouched == before  # not rewritten: same updated_at, same count


def test_a_step_moving_out_of_a_stand_in_still_updates_it(collector: CollectorHandle) -> None:
    # The missing parent arrives as a plain span under another missing one:
    # its steps move one level up; the stand-in they left is removed.
    trace = os.urandom(16)
    missing, above = os.urandom(8), os.urandom(8)
    _send(collector, orphan_steps(trace, 1, 2, parent=missing))
    _stand_ins_once(collector, trace, lambda rows: missing.hex() in rows)
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(
        Span(
            trace_id=trace,
            span_id=missing,
            parent_span_id=above,
            name="plain span",
            start_time_unix_nano=START_NS,
            end_time_unix_nano=START_NS + 10,
        )
    )
    _send(collector, request.SerializeToString())
    moved = _stand_ins_once(collector, trace, lambda rows: above.hex() in rows)
    assert missing.hex() not in moved
    assert moved[above.hex()][1] == 2
