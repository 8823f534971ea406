"""A captured trace (``captured/<name>.otlp``) sent over the wire to a real collector, and
what the collector made of it read back: the runs once they have all settled, their steps,
the model calls of no run. Shared by the tests of captured frameworks and clients."""

from __future__ import annotations

import gzip
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import CollectorHandle
from tests.span_items import span_items
from tests.span_items import trace_ids as _item_traces
from tests.support import wait_until

__all__ = [
    "CAPTURED",
    "RUNS",
    "STEPS",
    "body_of",
    "capture_runs",
    "check_tools",
    "expected_of",
    "lone_steps",
    "run_steps",
    "runs_by_task",
    "send_capture",
    "settled_runs",
    "tools_of",
    "trace_ids",
]

CAPTURED = Path(__file__).parent / "captured"
# The run and step columns the captured-trace tests read, in this order.
RUNS = (
    "id, agent_name, status, task, final_answer, error, parent_run_id, total_steps, "
    "input_tokens, output_tokens, model_requested, model_used"
)
STEPS = "action_type, tool_name, tool_args, tool_result, status, error, model, input_tokens"


def body_of(name: str) -> bytes:
    """The captured request ``captured/<name>.otlp`` (or, for a large one, its gzipped
    ``<name>.otlp.gz``)."""
    packed = CAPTURED / f"{name}.otlp.gz"
    if packed.exists():
        return gzip.decompress(packed.read_bytes())
    return (CAPTURED / f"{name}.otlp").read_bytes()


def expected_of(name: str) -> dict[str, Any]:
    """What the framework returned when the capture was made (``<name>.expected.json``)."""
    return json.loads((CAPTURED / f"{name}.expected.json").read_text())  # type: ignore[no-any-return]


def send_capture(collector: CollectorHandle, body: bytes) -> None:
    """POST ``body`` as OTLP/HTTP protobuf; the collector answers after it has stored it."""
    request = urllib.request.Request(
        f"{collector.http_endpoint}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 200


def trace_ids(body: bytes) -> list[str]:
    """The traces of the serialized request ``body``, as sorted lowercase hex."""
    return _item_traces(span_items(body))


def _settled(
    collector: CollectorHandle, body: bytes, count: int, columns: str, what: str
) -> list[tuple[tuple[Any, ...], str]]:
    traces = trace_ids(body)

    def settled() -> list[tuple[tuple[Any, ...], str]] | None:
        rows = collector.query(
            f"SELECT {columns}, task, status, total_steps FROM agent_runs "
            "WHERE trace_id IN (SELECT unnest(?)) ORDER BY started_at",
            [traces],
        )
        done = len(rows) == count and all(r[-2] != "running" and r[-1] for r in rows)
        return [(tuple(r[:-3]), r[-3]) for r in rows] if done else None

    return wait_until(settled, timeout_s=15, what=f"the runs of {what}")


def settled_runs(
    collector: CollectorHandle,
    body: bytes,
    count: int,
    columns: str = RUNS,
    *,
    what: str = "the capture",
) -> list[tuple[Any, ...]]:
    """The runs of ``body``'s traces (rows of ``columns``), oldest first, once all ``count``
    of them have ended with their steps."""
    return [row for row, _ in _settled(collector, body, count, columns, what)]


def runs_by_task(
    collector: CollectorHandle,
    body: bytes,
    count: int,
    columns: str = RUNS,
    *,
    what: str = "the capture",
) -> dict[str, tuple[Any, ...]]:
    """The runs of ``body``'s traces (rows of ``columns``) by task, once all ``count`` of
    them have ended with their steps."""
    return {task: row for row, task in _settled(collector, body, count, columns, what)}


def capture_runs(collector: CollectorHandle, name: str, count: int) -> dict[str, tuple[Any, ...]]:
    """Send ``captured/<name>.otlp``; its ``count`` runs (rows of ``RUNS``) by task, once
    all have ended with their steps."""
    body = body_of(name)
    send_capture(collector, body)
    return runs_by_task(collector, body, count, RUNS, what=name)


def run_steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    """The run's steps in order, as rows of ``STEPS``."""
    return collector.query(
        f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [run_id]
    )


def lone_steps(collector: CollectorHandle, body: bytes, columns: str) -> list[tuple[Any, ...]]:
    """The steps of ``body``'s traces that belong to no run (a lone model call)."""
    return collector.query(
        f"SELECT {columns} FROM agent_steps "
        "WHERE trace_id IN (SELECT unnest(?)) AND agent_run_id IS NULL",
        [trace_ids(body)],
    )


def tools_of(steps: list[tuple[Any, ...]]) -> list[tuple[str, Any, bool]]:
    """The tool steps among rows of ``STEPS``, as (name, arguments, failed)."""
    return [(s[1], json.loads(s[2]), s[4] == "error") for s in steps if s[0] == "tool_call"]


def check_tools(steps: list[tuple[Any, ...]], returned: list[dict[str, Any]]) -> None:
    """The tool steps are the calls the framework returned, with their results."""
    assert tools_of(steps) == [(t["name"], t["args"], t["error"]) for t in returned]
    for row, tool in zip([s for s in steps if s[0] == "tool_call"], returned, strict=True):
        if not tool["error"]:
            assert (row[3], row[5]) == (tool["result"], None)
