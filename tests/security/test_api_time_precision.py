"""``since`` and ``until`` written with more than six fractional digits hold exactly.

Found from outside: Python reads a time's fraction to six digits and drops the
rest, so ``since=...23.288857999Z`` took in a run that started at ``...23.288857``
(999 ns earlier), and ``until=...23.288857001Z`` left it out though it started
before. Runs are stored to the microsecond; the bound is now the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector

# 2026-12-07T21:51:23.288857Z, a whole microsecond, in nanoseconds.
STARTED_NS = 1_796_680_283_288_857_000
STARTED = "2026-12-07T21:51:23.288857"


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    path: Path = tmp_path_factory.mktemp("precision") / "precision.duckdb"
    collector = start_test_collector(path)

    def build(tracer: Any) -> None:
        span = tracer.start_span(
            "invoke_agent timed",
            start_time=STARTED_NS,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "agent_run.id": "timed-run",
                "agent_run.task": "timed",
            },
        )
        span.end(end_time=STARTED_NS + 5_000_000)

    try:
        export("http-protobuf", collector, record_spans(build))
        yield collector
    finally:
        collector.stop()


def _listed(handle: CollectorHandle, **params: str) -> bool:
    answer = httpx.get(f"{handle.api_url}/agent/runs", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return "timed-run" in {run["id"] for run in answer.json()["runs"]}


def test_the_run_starts_where_the_test_says(handle: CollectorHandle) -> None:
    answer = httpx.get(f"{handle.api_url}/agent/runs/timed-run", timeout=30)
    assert answer.json()["started_at"] == STARTED + "Z"


@pytest.mark.parametrize(
    ("params", "listed"),
    [
        ({"since": STARTED + "Z"}, True),
        ({"since": STARTED + "000Z"}, True),
        ({"since": STARTED + "001Z"}, False),
        ({"since": STARTED + "999Z"}, False),
        ({"since": "2026-12-08T03:21:23.288857999+05:30"}, False),
        ({"since": "2026-12-08T03:21:23.2888570000+05:30"}, True),
        ({"until": STARTED + "Z"}, False),
        ({"until": STARTED + "001Z"}, True),
        ({"until": "2026-12-07 13:51:23.288857000000001-08:00"}, True),
        ({"until": STARTED + "000000Z"}, False),
    ],
)
def test_bounds_hold_past_the_microsecond(
    handle: CollectorHandle, params: dict[str, str], listed: bool
) -> None:
    assert _listed(handle, **params) is listed
    # The stats take the same filters.
    answer = httpx.get(f"{handle.api_url}/agent/runs/stats", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
