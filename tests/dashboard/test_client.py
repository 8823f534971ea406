"""The dashboard's REST client and live refresh against a real collector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard.client import (
    ApiError,
    AuditClient,
    CollectorUnreachable,
    Conflict,
    NotFound,
    RunFilters,
    Unauthorized,
)
from dashboard.views.run_detail import load_run, refresh_run
from dashboard.views.sql_console import EXAMPLE_QUERIES
from tests.conftest import start_test_collector
from tests.dashboard.conftest import Seeded, step_count
from tests.support import unreachable_url, wait_until


@pytest.fixture
def client(seeded: Seeded) -> Iterator[AuditClient]:
    with AuditClient(seeded.api_url, timeout_s=5) as api:
        yield api


def test_list_runs_filters_and_pages(seeded: Seeded, client: AuditClient) -> None:
    everything = client.list_runs()
    assert everything.total == 6 and everything.next_cursor is None
    failed = client.list_runs(RunFilters(statuses=("failed",)))
    assert [r["id"] for r in failed.runs] == [seeded.runs.failed]
    future = RunFilters(since=datetime.now(UTC) + timedelta(days=1))
    assert client.list_runs(future).total == 0

    first = client.list_runs(limit=4)
    assert len(first.runs) == 4 and first.next_cursor
    second = client.list_runs(limit=4, cursor=first.next_cursor)
    ids = [r["id"] for r in first.runs + second.runs]
    assert sorted(ids) == sorted(r["id"] for r in everything.runs)  # no repeats, no gaps


def test_get_run_steps_and_after_step(seeded: Seeded, client: AuditClient) -> None:
    run = client.get_run(seeded.runs.completed)
    assert [s["step_number"] for s in run["steps"]] == [1, 2, 3]
    assert [s["step_number"] for s in client.get_steps(seeded.runs.completed, after_step=1)] == [
        2,
        3,
    ]
    with pytest.raises(NotFound):
        client.get_run("no-such-run")
    with pytest.raises(NotFound):
        client.get_run("../../sql")  # stays one path segment


def test_cancel_of_a_finished_run_is_a_conflict(seeded: Seeded, client: AuditClient) -> None:
    with pytest.raises(Conflict) as caught:
        client.cancel_run(seeded.runs.completed)
    assert caught.value.status_code == 409
    with pytest.raises(NotFound):
        client.cancel_run("no-such-run")


def test_sql_refusal_carries_the_reason(client: AuditClient) -> None:
    with pytest.raises(ApiError) as caught:
        client.sql("DELETE FROM agent_runs")
    assert caught.value.status_code == 400 and caught.value.detail


def test_unreachable_and_unauthorized(tmp_path: Path) -> None:
    with AuditClient(unreachable_url(), timeout_s=2) as api:
        with pytest.raises(CollectorUnreachable):
            api.health()
    guarded = start_test_collector(tmp_path / "token.duckdb", token="t0ken-long-enough-16")
    try:
        with AuditClient(guarded.api_url) as api, pytest.raises(Unauthorized):
            api.list_runs()
        with AuditClient(guarded.api_url, token="wrong") as api, pytest.raises(Unauthorized):
            api.list_runs()
        with AuditClient(guarded.api_url, token="t0ken-long-enough-16") as api:
            assert api.list_runs().total == 0
    finally:
        guarded.stop()


def test_live_refresh_fetches_new_steps_of_a_running_run(
    seeded: Seeded, client: AuditClient
) -> None:
    state = load_run(client, seeded.live_id)
    assert state.run["status"] == "running"
    before = len(state.steps)
    seeded.live.advance()
    wait_until(
        lambda: (
            step_count(seeded.api_url, seeded.live_id) > before
            and all(s["status"] != "running" for s in client.get_steps(seeded.live_id))
        ),
        timeout_s=10,
        what="the new step stored",
    )
    refreshed = refresh_run(client, state)
    assert len(refreshed.steps) == before + 1
    newest = refreshed.steps[-1]
    assert newest["tool_name"] == f"check_backup_{before + 1}"
    assert newest["tool_result"] == f"backup part {before + 1} ok"
    assert refreshed.run["status"] == "running" and not refreshed.fresh


@pytest.mark.parametrize("name", list(EXAMPLE_QUERIES))
def test_example_queries_run_through_the_api(client: AuditClient, name: str) -> None:
    result = client.sql(EXAMPLE_QUERIES[name], max_rows=50)
    assert result.columns and not result.truncated
