"""Costs and annotations through the REST API of a real collector fed by the instrumentation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.pricing import PriceBook
from collector.settings import Settings, SettingsError
from instrumentation import agent_run
from tests.collector.api.conftest import Agents, RunSpec, ToolCall, traced_agents
from tests.conftest import start_test_collector

PRICES = '[models."house-model"]\ninput_per_mtok = 1.0\noutput_per_mtok = 4.0\n'


@pytest.fixture
def priced(tmp_path: Path) -> Iterator[Agents]:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    handle = start_test_collector(tmp_path / "audit.duckdb", prices_path=prices)
    try:
        with traced_agents(handle) as helper:
            yield helper
    finally:
        handle.stop()


def test_runs_and_steps_carry_their_cost_and_the_costs_route_sums_them(priced: Agents) -> None:
    house, public, unknown = priced.send(
        [
            RunSpec("house", model="house-model", agent_name="ops",
                    think_tokens=((200_000, 10_000), (300_000, 15_000))),
            RunSpec("public", model="gpt-4o-mini", agent_name="billing",
                    think_tokens=((1_000_000, 100_000),)),
            RunSpec("unknown", model="my-finetune-v7", think_tokens=((5, 5),)),
        ]
    )  # fmt: skip
    # house-model: 0.5M in at $1 + 25k out at $4 = $0.60, from the prices file.
    run = priced.get(f"/agent/runs/{house}")
    assert run["cost_usd"] == pytest.approx(0.6)
    assert [s["cost_usd"] for s in run["steps"]] == [pytest.approx(0.24), pytest.approx(0.36)]
    price = PriceBook().price("gpt-4o-mini")
    assert price is not None
    public_cost = price.input_usd_per_mtok + 0.1 * price.output_usd_per_mtok
    page = priced.get("/agent/runs")["runs"]
    listed = {r["id"]: r["cost_usd"] for r in page}
    assert {r["id"]: r["llm_calls"] for r in page} == {house: 2, public: 1, unknown: 1}
    assert listed[public] == pytest.approx(public_cost)
    assert listed[unknown] is None  # no price known: no cost, not 0

    costs = priced.get("/agent/costs", bucket="day")
    assert costs["runs"] == 3 and costs["unpriced_runs"] == 1
    assert costs["total_usd"] == pytest.approx(0.6 + public_cost)
    assert costs["by_agent"]["ops"] == pytest.approx(0.6)
    assert costs["by_model"]["gpt-4o-mini"] == pytest.approx(public_cost)
    assert sum(p["cost_usd"] for p in costs["over_time"]) == pytest.approx(0.6 + public_cost)
    billing = priced.get("/agent/costs", agent_name="billing")
    assert billing["total_usd"] == pytest.approx(public_cost)

    # The same figures in SQL, through the cost views.
    answer = priced.api.post(
        "/sql", json={"sql": "SELECT sum(cost_usd) FROM run_costs WHERE agent_name = 'ops'"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"][0][0] == pytest.approx(0.6)


def test_a_run_page_adds_up_its_sub_agent_runs_at_any_depth(priced: Agents) -> None:
    def think(run: Any, tokens_in: int, tokens_out: int) -> None:
        with run.step("think") as step:
            step.set_tokens(input_tokens=tokens_in, output_tokens=tokens_out)

    house = {"model_requested": "house-model"}
    with agent_run("release", agent_name="team", **house) as team:
        with agent_run("images", agent_name="worker", **house) as first:
            think(first, 100_000, 10_000)
            with agent_run("one image", agent_name="checker", **house) as deep:
                think(deep, 200_000, 0)
                deep.finish(status="failed", error="pull failed")
            first.finish(final_answer="images checked")
        with agent_run("hosts", agent_name="worker", model_requested="my-finetune-v7") as second:
            think(second, 5, 5)
            second.finish(final_answer="hosts fine")
        team.finish(final_answer="ship")
    (alone,) = priced.send([RunSpec("alone", model="house-model", think_tokens=((1, 1),))])
    priced.flush_and_wait([team.id, first.id, deep.id, second.id])

    page = priced.get(f"/agent/runs/{team.id}")
    assert page["input_tokens"] in (None, 0) and page["cost_usd"] in (None, 0)  # its own only
    assert page["sub_run_totals"] == {
        "runs": 3,
        "failed": 1,
        "running": 0,
        "input_tokens": 300_005,
        "output_tokens": 10_005,
        # house-model: 0.3M in at $1 + 10k out at $4; my-finetune-v7 has no price.
        "cost_usd": pytest.approx(0.34),
        "unpriced_runs": 1,
    }
    middle = priced.get(f"/agent/runs/{first.id}")["sub_run_totals"]
    assert (middle["runs"], middle["input_tokens"]) == (1, 200_000)
    assert priced.get(f"/agent/runs/{deep.id}")["sub_run_totals"] is None
    assert priced.get(f"/agent/runs/{alone}")["sub_run_totals"] is None
    # Nothing counted twice in the totals over all runs.
    costs = priced.get("/agent/costs")
    assert costs["total_usd"] == pytest.approx(0.34 + 0.000005)


def test_annotations_are_stored_listed_filtered_and_in_sql(priced: Agents) -> None:
    good, bad = priced.send([RunSpec("fine"), RunSpec("wrong tool")])
    api = priced.api
    created = api.post(f"/agent/runs/{bad}/annotations", json={"kind": "bad", "author": "ana"})
    assert created.status_code == 201, created.text
    assert created.json()["author"] == "ana" and created.json()["created_at"].endswith("Z")
    api.post(f"/agent/runs/{bad}/annotations",
             json={"kind": "label", "value": "wrong-tool", "author": "ana"})  # fmt: skip
    api.post(f"/agent/runs/{good}/annotations", json={"kind": "good", "author": "bo"})

    listed = priced.get(f"/agent/runs/{bad}/annotations")["annotations"]
    assert [(a["kind"], a["value"]) for a in listed] == [("bad", None), ("label", "wrong-tool")]
    assert [r["id"] for r in priced.get("/agent/runs", annotation="bad")["runs"]] == [bad]
    assert [r["id"] for r in priced.get("/agent/runs", annotation="wrong-tool")["runs"]] == [bad]
    assert {r["id"] for r in priced.get("/agent/runs", annotation="any")["runs"]} == {good, bad}
    rows = api.post("/sql", json={"sql": "SELECT author, kind FROM annotations ORDER BY 1, 2"})
    assert rows.json()["rows"] == [["ana", "bad"], ["ana", "label"], ["bo", "good"]]

    refused = api.post(f"/agent/runs/{good}/annotations", json={"kind": "meh", "author": "x"})
    assert refused.status_code == 400 and "kind" in refused.json()["detail"]
    empty_label = api.post(
        f"/agent/runs/{good}/annotations", json={"kind": "label", "value": " ", "author": "x"}
    )
    assert empty_label.status_code == 400 and "needs a value" in empty_label.json()["detail"]
    unknown = api.post("/agent/runs/nope/annotations", json={"kind": "good", "author": "x"})
    assert unknown.status_code == 404
    assert len(priced.get(f"/agent/runs/{good}/annotations")["annotations"]) == 1


def test_a_bad_prices_file_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"x": {"input_per_mtok": "cheap"}}}')
    with pytest.raises(SettingsError, match="AGENT_AUDIT_PRICES.*x.input_per_mtok"):
        start_test_collector(tmp_path / "audit.duckdb", prices_path=prices)
    with pytest.raises(SettingsError, match="AGENT_AUDIT_PRICES"):
        Settings.from_env({"AGENT_AUDIT_PRICES": str(prices)})
    prices.write_text('{"models": {"x": {"input_per_mtok": 0.5}}}')
    assert Settings.from_env({"AGENT_AUDIT_PRICES": str(prices)}).prices_path == prices


def test_has_error_finds_failed_runs_and_runs_that_recovered_from_a_failed_step(
    priced: Agents,
) -> None:
    clean, recovered, failed = priced.send(
        [
            RunSpec("clean", tools=(ToolCall("ls"),)),
            RunSpec("recovered", tools=(ToolCall("rm", error="permission denied"), ToolCall("ls"))),
            RunSpec("failed", status="failed", error="gave up"),
        ]
    )
    found = {r["id"] for r in priced.get("/agent/runs", has_error="true")["runs"]}
    assert found == {recovered, failed}
    assert clean in {r["id"] for r in priced.get("/agent/runs", has_error="false")["runs"]}


def test_kept_costs_answers_follow_new_runs_annotations_and_prices(priced: Agents) -> None:
    # Answers are kept per filter and data version: each change below must show at once
    # on this small store (a big one may lag by seconds, as stats do).
    (first,) = priced.send([RunSpec("first", model="house-model", think_tokens=((1_000_000, 0),))])
    assert priced.get("/agent/costs")["total_usd"] == pytest.approx(1.0)
    assert priced.get("/agent/costs", annotation="bad")["runs"] == 0

    # A second run of a model no run had before: priced now, and counted.
    price = PriceBook().price("gpt-4o-mini")
    assert price is not None
    priced.send([RunSpec("second", model="gpt-4o-mini", think_tokens=((1_000_000, 0),))])
    costs = priced.get("/agent/costs")
    assert costs["runs"] == 2 and costs["unpriced_runs"] == 0
    assert costs["total_usd"] == pytest.approx(1.0 + price.input_usd_per_mtok)
    assert priced.get("/agent/costs", annotation="bad")["runs"] == 0

    # An annotation changes no run, yet the filtered answer must see it.
    marked = priced.api.post(
        f"/agent/runs/{first}/annotations", json={"kind": "bad", "author": "a"}
    )
    assert marked.status_code in (200, 201), marked.text
    bad = priced.get("/agent/costs", annotation="bad")
    assert bad["runs"] == 1 and bad["total_usd"] == pytest.approx(1.0)
