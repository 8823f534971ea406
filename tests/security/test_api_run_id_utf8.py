"""A run id in the path whose %-escapes are not UTF-8 is a 400, not another run.

Found from outside: ``GET /agent/runs/%ff%fe/steps`` answered 404 "run '\ufffd\ufffd'
not found": the escapes were decoded leniently, each invalid byte becoming U+FFFD,
so ``%ff``, ``%fe``, ``%c0`` and ``%EF%BF%BD`` all opened, annotated and cancelled
the run whose id is U+FFFD (ids are whatever an agent sends).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector

REPLACEMENT_ID = "\ufffd"
NOT_UTF8 = ["%ff", "%fe", "%c0", "%c0%ae", "%ed%a0%80", "a%80b", "%f8%88%80%80%80"]


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    path: Path = tmp_path_factory.mktemp("utf8") / "utf8.duckdb"
    collector = start_test_collector(path)

    def build(tracer: Any) -> None:
        with tracer.start_as_current_span(
            "invoke_agent odd",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "agent_run.id": REPLACEMENT_ID,
                "agent_run.task": "named by U+FFFD",
            },
        ):
            tracer.start_span(
                "execute_tool probe",
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "p"},
            ).end()

    try:
        export("http-protobuf", collector, record_spans(build))
        yield collector
    finally:
        collector.stop()


def test_the_run_is_read_by_its_own_id(handle: CollectorHandle) -> None:
    answer = httpx.get(f"{handle.api_url}/agent/runs/%EF%BF%BD", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == REPLACEMENT_ID


@pytest.mark.parametrize("segment", NOT_UTF8)
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/steps", None),
        ("GET", "/annotations", None),
        ("POST", "/annotations", {"kind": "bad", "author": "mallory"}),
        ("POST", "/cancel", {"requested_by": "mallory"}),
    ],
)
def test_an_id_that_is_not_utf8_names_no_run(
    handle: CollectorHandle, segment: str, method: str, suffix: str, body: Any
) -> None:
    answer = httpx.request(
        method, f"{handle.api_url}/agent/runs/{segment}{suffix}", json=body, timeout=30
    )
    assert answer.status_code == 400, answer.text
    assert "not UTF-8" in answer.json()["detail"]


def test_nothing_reached_the_run(handle: CollectorHandle) -> None:
    notes = httpx.get(f"{handle.api_url}/agent/runs/%EF%BF%BD/annotations", timeout=30)
    assert notes.json()["annotations"] == []
    cancels = httpx.get(
        f"{handle.api_url}/agent/cancel-requests", params={"run_id": REPLACEMENT_ID}, timeout=30
    )
    assert cancels.json()["requests"] == []
