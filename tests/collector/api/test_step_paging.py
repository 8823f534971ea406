"""A long run's page is bounded; ``/steps`` pages through every step exactly once."""

from __future__ import annotations

import json

import pytest

from collector import queries
from collector.client import AuditClient
from collector.pricing import PriceBook
from tests.collector.api.conftest import Agents, RunSpec

# Tokens vary by step so a cost over only some steps cannot equal the run's.
LONG = RunSpec(
    "a long run",
    model="gpt-4o-mini",
    think_tokens=tuple((1000 + 7 * n, 100 + n) for n in range(1, 31)),
)


def _cost_of(tokens: tuple[tuple[int, int], ...]) -> float:
    price = PriceBook().price("gpt-4o-mini")
    assert price is not None
    return (
        sum(i * price.input_usd_per_mtok + o * price.output_usd_per_mtok for i, o in tokens) / 1e6
    )


def test_a_run_page_holds_the_first_steps_and_costs_all_of_them(
    agents: Agents, monkeypatch: pytest.MonkeyPatch
) -> None:
    (run_id,) = agents.send([LONG])
    whole = agents.get(f"/agent/runs/{run_id}")
    assert whole["steps_truncated"] is False and len(whole["steps"]) == 30

    monkeypatch.setattr(queries, "RUN_PAGE_STEPS", 10)
    page = agents.get(f"/agent/runs/{run_id}")
    assert page["steps_truncated"] is True
    assert page["total_steps"] == 30
    assert [s["step_number"] for s in page["steps"]] == list(range(1, 11))
    assert len(json.dumps(page)) < len(json.dumps(whole)) / 2
    # The run's cost is over its 30 steps, not the 10 in the page.
    assert page["cost_usd"] == pytest.approx(_cost_of(LONG.think_tokens))
    assert page["cost_usd"] == pytest.approx(whole["cost_usd"])
    assert [s["cost_usd"] for s in page["steps"]] == [s["cost_usd"] for s in whole["steps"][:10]]
    in_sql = agents.api.post(
        "/sql", json={"sql": f"SELECT cost_usd FROM run_costs WHERE run_id = '{run_id}'"}
    ).json()
    assert in_sql["rows"][0][0] == pytest.approx(page["cost_usd"])


def test_steps_come_a_page_at_a_time_each_exactly_once(agents: Agents) -> None:
    (run_id,) = agents.send([LONG])
    seen: list[int] = []
    after, pages = 0, 0
    while True:
        body = agents.get(f"/agent/runs/{run_id}/steps", after_step=after, limit=7)
        assert len(body["steps"]) <= 7
        seen += [s["step_number"] for s in body["steps"]]
        pages += 1
        if body["next_after_step"] is None:
            break
        assert body["next_after_step"] == seen[-1]
        after = body["next_after_step"]
    assert seen == list(range(1, 31)) and pages == 5
    tail = agents.get(f"/agent/runs/{run_id}/steps", after_step=25, limit=5)
    assert [s["step_number"] for s in tail["steps"]] == [26, 27, 28, 29, 30]
    assert tail["next_after_step"] is None  # exactly a page left: nothing follows
    assert agents.get(f"/agent/runs/{run_id}/steps")["next_after_step"] is None


@pytest.mark.parametrize("limit", ["0", "-1", str(queries.MAX_STEPS_PAGE + 1), "many"])
def test_a_limit_outside_the_range_is_400(agents: Agents, limit: str) -> None:
    (run_id,) = agents.send([RunSpec("short", think_tokens=((1, 1),))])
    answer = agents.api.get(f"/agent/runs/{run_id}/steps", params={"limit": limit})
    assert answer.status_code == 400, answer.text
    assert "limit" in answer.text


def test_the_client_reads_every_step_a_page_at_a_time(agents: Agents) -> None:
    (run_id,) = agents.send([LONG])
    with AuditClient(agents.collector.api_url) as client:
        _read_by_pages(client, run_id)


def _read_by_pages(client: AuditClient, run_id: str) -> None:
    first = client.steps_page(run_id, limit=12)
    assert [s["step_number"] for s in first.steps] == list(range(1, 13))
    assert first.next_after_step == 12
    every = client.get_steps(run_id, page_size=7)
    assert [s["step_number"] for s in every] == list(range(1, 31))
    assert [s["step_number"] for s in client.get_steps(run_id, after_step=20, page_size=4)] == [
        *range(21, 31)
    ]
