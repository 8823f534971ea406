"""GET /agent/runs over one shared set of runs: shape, every filter, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from collector.queries import decode_cursor, encode_cursor
from tests.collector.api.conftest import Agents, RunSpec, ToolCall

RUN_FIELDS = {
    "id", "task", "working_directory", "model_requested", "model_used", "backend", "status",
    "final_answer", "total_steps", "started_at", "completed_at", "duration_ms", "source",
    "triggered_by", "error", "metadata", "trace_id", "span_id", "parent_run_id", "agent_name",
    "service_name", "provider", "input_tokens", "output_tokens", "updated_at",
    "last_activity_at", "is_final", "step_count", "elapsed_ms", "cancel_requested_at",
    "cancel_requested_by", "tool_calls", "llm_calls",
}  # fmt: skip

SPECS = [
    RunSpec("restart homepage container", source="n8n", tools=(ToolCall("docker_ps"),)),
    RunSpec(
        "check disk space on nas",
        status="failed",
        source="api",
        error="disk full",
        tools=(ToolCall("df", error="permission denied"),),
    ),
    RunSpec(
        "Analyze container CRASH",
        source="n8n",
        model="llama3",
        model_used="llama3:8b",
        agent_name="triage",
        final_answer="OOM killed 100%_sure",
        tools=(ToolCall("docker_logs"), ToolCall("docker_ps")),
    ),
    RunSpec("rotate logs", status="max_steps", source="cron", agent_name="triage"),
    RunSpec("update images", source=None, model=None, tools=(ToolCall("docker_pull"),)),
]


def ids_of(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in body["runs"]]


@pytest.fixture(scope="module")
def sent(module_agents: Agents) -> dict[str, str]:
    ids = module_agents.send(SPECS)
    return {spec.task: run_id for spec, run_id in zip(SPECS, ids, strict=True)}


@pytest.fixture
def agents(module_agents: Agents, sent: dict[str, str]) -> Agents:
    """All tests here read the same five runs."""
    return module_agents


def test_list_shape_order_and_live_fields(agents: Agents, sent: dict[str, str]) -> None:
    body = agents.get("/agent/runs")
    assert body["total"] == len(SPECS)
    assert body["next"] is None
    runs = body["runs"]
    assert set(ids_of(body)) == set(sent.values())
    keys = [(r["started_at"], r["id"]) for r in runs]
    assert keys == sorted(keys, reverse=True), "newest first, then id descending"
    for run in runs:
        assert set(run) >= RUN_FIELDS, RUN_FIELDS - set(run)
        assert run["started_at"].endswith("Z")
        assert run["elapsed_ms"] == run["duration_ms"]
        assert run["cancel_requested_at"] is None
    crash = next(r for r in runs if r["id"] == sent["Analyze container CRASH"])
    assert crash["step_count"] == 2
    # Counted by the API, so the run list needs no /sql query.
    assert (crash["tool_calls"], crash["llm_calls"]) == (2, 0)
    rotate = next(r for r in runs if r["id"] == sent["rotate logs"])
    assert (rotate["tool_calls"], rotate["llm_calls"]) == (0, 0)
    assert crash["model_used"] == "llama3:8b"
    assert crash["status"] == "completed"
    failed = next(r for r in runs if r["id"] == sent["check disk space on nas"])
    assert failed["status"] == "failed" and "disk full" in failed["error"]


@pytest.mark.parametrize(
    ("params", "expected_tasks"),
    [
        ({"status": "failed"}, {"check disk space on nas"}),
        (
            {"status": ["failed", "max_steps"]},
            {"check disk space on nas", "rotate logs"},
        ),
        ({"source": "n8n"}, {"restart homepage container", "Analyze container CRASH"}),
        ({"model": "llama3"}, {"Analyze container CRASH"}),  # requested
        ({"model": "llama3:8b"}, {"Analyze container CRASH"}),  # used
        ({"agent_name": "triage"}, {"Analyze container CRASH", "rotate logs"}),
        ({"q": "container"}, {"restart homepage container", "Analyze container CRASH"}),
        ({"q": "crash"}, {"Analyze container CRASH"}),  # case-insensitive
        ({"q": "oom killed"}, {"Analyze container CRASH"}),  # final answer
        ({"q": "100%_"}, {"Analyze container CRASH"}),  # % and _ are literal
        ({"q": "%"}, {"Analyze container CRASH"}),
        ({"tool": "docker_ps"}, {"restart homepage container", "Analyze container CRASH"}),
        ({"tool": "df"}, {"check disk space on nas"}),
        ({"tool": "nothing_like_it"}, set()),
        ({"source": "n8n", "tool": "docker_logs"}, {"Analyze container CRASH"}),
        ({"status": "completed", "source": "cron"}, set()),
    ],
)
def test_each_filter(
    agents: Agents, sent: dict[str, str], params: dict[str, Any], expected_tasks: set[str]
) -> None:
    body = agents.get("/agent/runs", **params)
    assert set(ids_of(body)) == {sent[t] for t in expected_tasks}
    assert body["total"] == len(expected_tasks)


def test_id_prefix_search(agents: Agents, sent: dict[str, str]) -> None:
    run_id = sent["rotate logs"]
    assert run_id in ids_of(agents.get("/agent/runs", q=run_id[:8]))


def test_since_until(agents: Agents, sent: dict[str, str]) -> None:
    runs = agents.get("/agent/runs")["runs"]
    times = sorted(datetime.fromisoformat(r["started_at"].replace("Z", "")) for r in runs)
    middle = times[2]
    iso = middle.isoformat() + "Z"
    newer = agents.get("/agent/runs", since=iso)
    assert newer["total"] == 3  # since is inclusive
    older = agents.get("/agent/runs", until=iso)
    assert older["total"] == 2  # until is exclusive
    assert set(ids_of(newer)).isdisjoint(ids_of(older))
    # An offset in the time is converted to UTC.
    shifted = (middle + timedelta(hours=2)).isoformat() + "+02:00"
    assert agents.get("/agent/runs", since=shifted)["total"] == 3
    assert (
        agents.get("/agent/runs", since=(times[-1] + timedelta(seconds=1)).isoformat())["total"]
        == 0
    )


def test_cursor_round_trip() -> None:
    moment = datetime(2025, 1, 31, 12, 0, 0, 123456)
    assert decode_cursor(encode_cursor(moment, "r1")).started_at == moment
    assert decode_cursor(encode_cursor(None, "r2")).started_at is None


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "bogus"}, "unknown status"),
        ({"since": "yesterday-ish"}, "ISO 8601"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"since": "2025-02-01", "until": "2025-01-01"}, "earlier"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    agents: Agents, params: dict[str, Any], fragment: str
) -> None:
    response = agents.api.get("/agent/runs", params=params)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]
