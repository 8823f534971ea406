"""The run filters are one set of parameters: every filtered route reads and checks them alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.collector.api.conftest import Agents, RunSpec, ToolCall

FILTERED_ROUTES = ("/agent/runs", "/agent/runs/stats")
FILTER_NAMES = ["status", "source", "model", "agent_name", "since", "until", "q", "tool"]

SPECS = [
    RunSpec("prune volumes", source="n8n", tools=(ToolCall("docker_volume_prune"),)),
    RunSpec(
        "inspect failing backup",
        status="failed",
        source="cron",
        model="llama3",
        agent_name="backup",
        tools=(ToolCall("journalctl", error="no such unit"),),
    ),
    RunSpec(
        "Summarise nightly JOBS",
        status="max_steps",
        source="n8n",
        model_used="mistral:7b",
        agent_name="backup",
        final_answer="two jobs late",
    ),
]


@pytest.fixture(scope="module")
def sent(module_agents: Agents) -> dict[str, str]:
    ids = module_agents.send(SPECS)
    return {spec.task: run_id for spec, run_id in zip(SPECS, ids, strict=True)}


def listed_and_counted(agents: Agents, params: Any) -> tuple[set[str], int, dict[str, int]]:
    """The ids the list returns, and the run count and statuses the stats report."""
    listed = agents.api.get("/agent/runs", params=params)
    stats = agents.api.get("/agent/runs/stats", params=params)
    assert listed.status_code == 200, listed.text
    assert stats.status_code == 200, stats.text
    body = stats.json()
    return {r["id"] for r in listed.json()["runs"]}, body["total_runs"], body["by_status"]


@pytest.mark.parametrize(
    ("params", "expected_tasks"),
    [
        ([], {s.task for s in SPECS}),
        ([("status", "failed")], {"inspect failing backup"}),
        (
            [("status", "failed"), ("status", "max_steps")],
            {"inspect failing backup", "Summarise nightly JOBS"},
        ),
        ([("source", "n8n")], {"prune volumes", "Summarise nightly JOBS"}),
        ([("model", "llama3")], {"inspect failing backup"}),
        ([("model", "mistral:7b")], {"Summarise nightly JOBS"}),
        ([("agent_name", "backup")], {"inspect failing backup", "Summarise nightly JOBS"}),
        ([("q", "nightly jobs")], {"Summarise nightly JOBS"}),
        ([("q", "jobs late")], {"Summarise nightly JOBS"}),  # the final answer
        ([("tool", "journalctl")], {"inspect failing backup"}),
        ([("source", "n8n"), ("agent_name", "backup")], {"Summarise nightly JOBS"}),
        # Empty values filter nothing, on every route.
        ([("status", ""), ("source", ""), ("q", ""), ("since", "")], {s.task for s in SPECS}),
        # A parameter no route knows is ignored, as FastAPI does for any query.
        ([("colour", "blue")], {s.task for s in SPECS}),
    ],
)
def test_list_and_stats_apply_each_filter_alike(
    module_agents: Agents, sent: dict[str, str], params: Any, expected_tasks: set[str]
) -> None:
    ids, total_runs, by_status = listed_and_counted(module_agents, params)
    assert ids == {sent[t] for t in expected_tasks}
    assert total_runs == len(expected_tasks)
    assert sum(by_status.values()) == len(expected_tasks)


def test_time_window_is_the_same_on_both_routes(
    module_agents: Agents, sent: dict[str, str]
) -> None:
    runs = module_agents.get("/agent/runs")["runs"]
    starts = sorted(datetime.fromisoformat(r["started_at"][:-1]) for r in runs)
    since = [("since", starts[1].isoformat() + "Z")]
    ids, total_runs, _ = listed_and_counted(module_agents, since)
    assert len(ids) == total_runs == 2  # since is inclusive
    until = [("until", starts[1].isoformat() + "Z")]
    older, total_runs, _ = listed_and_counted(module_agents, until)
    assert len(older) == total_runs == 1  # until is exclusive
    assert ids.isdisjoint(older)
    # An offset is converted to UTC on both routes.
    shifted = [("since", (starts[1] + timedelta(hours=-3)).isoformat() + "-03:00")]
    assert listed_and_counted(module_agents, shifted)[:2] == (ids, 2)


@pytest.mark.parametrize("route", FILTERED_ROUTES)
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"status": "bogus"},
            "unknown status 'bogus'; use one of running, completed, failed, max_steps, "
            "cancelled, lost",
        ),
        (
            {"since": "last tuesday"},
            "since='last tuesday' is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)",
        ),
        (
            {"until": "2025-13-01"},
            "until='2025-13-01' is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)",
        ),
        ({"since": "2025-02-01", "until": "2025-01-01"}, "since must be earlier than until"),
        ({"since": "2025-01-01", "until": "2025-01-01"}, "since must be earlier than until"),
    ],
)
def test_a_bad_filter_is_the_same_400_on_every_route(
    module_agents: Agents, sent: dict[str, str], route: str, params: Any, detail: str
) -> None:
    response = module_agents.api.get(route, params=params)
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("route", "malformed"), [("/agent/runs", "limit"), ("/agent/runs/stats", "top")]
)
def test_a_malformed_number_is_reported_before_the_filters(
    module_agents: Agents, route: str, malformed: str
) -> None:
    # FastAPI checks parameter types before the route checks filter values.
    response = module_agents.api.get(route, params={"status": "bogus", malformed: "many"})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"{malformed}: ") and "\n" not in detail
    assert "status" not in detail


def test_openapi_lists_the_filters_first_and_identically(module_agents: Agents) -> None:
    document = module_agents.get("/openapi.json")
    per_route = [document["paths"][route]["get"]["parameters"] for route in FILTERED_ROUTES]
    for parameters in per_route:
        names = [p["name"] for p in parameters]
        assert names[: len(FILTER_NAMES)] == FILTER_NAMES
        assert all(p["in"] == "query" and not p.get("required") for p in parameters)
    filters = [parameters[: len(FILTER_NAMES)] for parameters in per_route]
    assert filters[0] == filters[1]
    status = filters[0][0]
    assert status["schema"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert all(p["description"] for p in filters[0])
