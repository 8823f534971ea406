"""ADK 2's agent taken over by ``transfer_to_agent`` placed below the run that transferred to
it (the rule's ``run_parents``, collector/rule_parents.py): on the shapes SPANS.md records,
then through the real collector with the transfer arriving after both runs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from collector.decode import SpanRecord
from collector.rules.google_adk import run_parents
from tests.conftest import start_test_collector
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.frameworks.test_captured_frameworks import CAPTURED
from tests.records import span_record
from tests.span_items import request_of, span_items
from tests.support import wait_until

SCOPE = "gcp.vertex.agent"
INVOCATION, FIRST, SECOND, THIRD = "i" * 16, "a" * 16, "b" * 16, "c" * 16


def _span(
    span_id: str,
    parent: str | None,
    name: str,
    start_ns: int,
    *,
    status_code: int = 0,
    **attributes: object,
) -> SpanRecord:
    return span_record(
        span_id, name=name, parent_span_id=parent, attributes=attributes, trace_id="t" * 32,
        kind=0, start_ns=start_ns, end_ns=start_ns + 1, status_code=status_code,
        scope_name=SCOPE,
    )  # fmt: skip


def _agent(span_id: str, name: str, start_ns: int, parent: str | None = INVOCATION) -> SpanRecord:
    return _span(
        span_id,
        parent,
        f"invoke_agent {name}",
        start_ns,
        **{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
    )


def _transfer(span_id: str, by: str, start_ns: int, to: str | None, **kw: int) -> SpanRecord:
    args = {} if to is None else {"gen_ai.tool.call.arguments": json.dumps({"agent_name": to})}
    return _span(span_id, by, "execute_tool transfer_to_agent", start_ns, **kw, **args)


def test_each_agent_taken_over_goes_below_the_agent_that_transferred_to_it() -> None:
    spans = [
        _span(INVOCATION, None, "invoke_workflow root", 0),
        _agent(FIRST, "root", 10),
        _transfer("1" * 16, FIRST, 20, "helper"),
        _agent(SECOND, "helper", 30),
        _transfer("2" * 16, SECOND, 40, "expert"),
        _agent(THIRD, "expert", 50),
    ]
    assert run_parents(spans) == {SECOND: FIRST, THIRD: SECOND}


def test_without_content_the_latest_transfer_before_the_agent_decides() -> None:
    """ADK records a tool's arguments only with content capture: then the agent taken over
    is the one that starts after a transfer, below the latest."""
    spans = [
        _agent(FIRST, "root", 10),
        _transfer("1" * 16, FIRST, 20, None),
        _agent(SECOND, "helper", 30),
        _transfer("2" * 16, SECOND, 40, None),
        _agent(THIRD, "expert", 50),
    ]
    assert run_parents(spans) == {SECOND: FIRST, THIRD: SECOND}


def test_runs_no_transfer_hands_over_to_keep_their_place() -> None:
    spans = [
        _agent(FIRST, "root", 10),
        # A transfer that failed handed nothing over; one naming another agent neither.
        _transfer("1" * 16, FIRST, 20, "helper", status_code=2),
        _transfer("2" * 16, FIRST, 25, "other"),
        _agent(SECOND, "helper", 30),
        _agent(THIRD, "late", 5),  # started before any transfer
        # ADK 1 nests the agent taken over below the one that transferred: in place.
        _span("3" * 16, None, "agent_run [root]", 100),
        _transfer("4" * 16, "3" * 16, 110, "helper"),
        _span("5" * 16, "3" * 16, "agent_run [helper]", 120),
    ]
    assert run_parents(spans) == {}


def test_the_transfer_arriving_last_places_the_agent_taken_over(tmp_path: Path) -> None:
    """Through the real collector: ADK 2's captured transfer, every span but the transfer
    first (the agent taken over is then a top-level run), the transfer later. The agent
    taken over becomes a child of the run that transferred, that run answers with its
    answer, and ``rederive`` gives the same."""
    captured = span_items((CAPTURED / "google_adk_2.otlp").read_bytes())
    trace = next(s.trace_id for _, _, s in captured if s.name == "execute_tool transfer_to_agent")
    items = [item for item in captured if item[2].trace_id == trace]
    late = [i for i in items if i[2].name == "execute_tool transfer_to_agent"]
    first = [i for i in items if i not in late]
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)

    def runs() -> list[tuple[str, str | None, str | None]]:
        return collector.query(
            "SELECT r.agent_name, p.agent_name, r.final_answer FROM agent_runs r "
            "LEFT JOIN agent_runs p ON p.id = r.parent_run_id ORDER BY r.started_at"
        )

    try:
        with httpx.Client(base_url=collector.http_endpoint, timeout=30) as http:
            for part in (first, late):
                response = http.post(
                    "/v1/traces",
                    content=request_of(part).SerializeToString(),
                    headers={"content-type": "application/x-protobuf"},
                )
                assert response.status_code == 200, response.text
                wait_until(collector.store.await_applied, timeout_s=60, what="the request")
                if part is first:
                    assert [r[:2] for r in runs()] == [
                        ("parent_agent", None),
                        ("child_agent", None),
                    ]
        answer = "the child agent says 42"
        assert runs() == [("parent_agent", None, answer), ("child_agent", "parent_agent", answer)]
        before = derived_rows(collector.query)
    finally:
        collector.stop()
    assert rederived_rows(db) == before
