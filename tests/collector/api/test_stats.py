"""GET /agent/runs/stats against figures computed here from the runs the test sent."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.collector.api.conftest import Agents, RunSpec, ToolCall

SPECS = [
    RunSpec(
        "a",
        source="n8n",
        think_tokens=((10, 1),),
        tools=(ToolCall("docker_ps"), ToolCall("docker_logs", error="boom")),
    ),
    RunSpec("b", source="n8n", status="failed", tools=(ToolCall("docker_logs", error="again"),)),
    RunSpec(
        "c",
        source="api",
        model="llama3",
        think_tokens=((30, 3), (40, 4)),
        tools=(ToolCall("docker_ps"), ToolCall("docker_ps"), ToolCall("df")),
    ),
    RunSpec("d", source="api", status="max_steps", model_used="qwen2.5-coder:7b"),
    RunSpec("e", source=None, model=None, tools=(ToolCall("docker_ps"),)),
    RunSpec("f", source="cron", status="failed", think_tokens=((5, 5),)),
    RunSpec("g", source="n8n", tools=(ToolCall("df", error="denied"), ToolCall("docker_ps"))),
]


def quantile_cont(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (DuckDB's quantile_cont, numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def expected_stats(
    specs: Sequence[RunSpec], runs: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """Everything the endpoint reports, from the specs (and measured times from the API)."""
    statuses = Counter(s.status for s in specs)
    sources = Counter(s.source or "unknown" for s in specs)
    models = Counter(s.model_used or s.model or "unknown" for s in specs)
    agents = Counter(s.agent_name or "unknown" for s in specs)
    step_counts = [len(s.think_tokens) + len(s.tools) for s in specs]
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for spec in specs:
        for call in spec.tools:
            calls[call.tool] += 1
            errors[call.tool] += call.error is not None
    durations = [r["duration_ms"] for r in runs]
    tool_durations: dict[str, list[float]] = {}
    for step in steps:
        if step["tool_name"]:
            tool_durations.setdefault(step["tool_name"], []).append(step["duration_ms"])
    buckets = Counter(
        (
            datetime.fromisoformat(r["started_at"][:-1]).replace(minute=0, second=0, microsecond=0),
            r["status"],
        )
        for r in runs
    )
    return {
        "total_runs": len(specs),
        "by_status": dict(statuses),
        "by_source": dict(sources),
        "by_model": dict(models),
        "by_agent": dict(agents),
        "error_rate": statuses["failed"] / len(specs),
        "steps_per_run": {
            "avg": sum(step_counts) / len(step_counts),
            "p50": quantile_cont(step_counts, 0.5),
            "p95": quantile_cont(step_counts, 0.95),
            "max": max(step_counts),
        },
        "duration_ms": {
            "p50": quantile_cont(durations, 0.5),
            "p95": quantile_cont(durations, 0.95),
            "max": max(durations),
        },
        "tokens": {
            "input": sum(i for s in specs for i, _ in s.think_tokens),
            "output": sum(o for s in specs for _, o in s.think_tokens),
        },
        "top_tools": [
            {
                "tool_name": tool,
                "calls": n,
                "errors": errors[tool],
                "error_rate": errors[tool] / n,
                "p95_duration_ms": quantile_cont(tool_durations[tool], 0.95),
            }
            for tool, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "runs_over_time": sorted(
            (
                {"bucket": b.isoformat(timespec="microseconds") + "Z", "status": s, "runs": n}
                for (b, s), n in buckets.items()
            ),
            key=lambda x: (x["bucket"], x["status"]),
        ),
    }


def measured(
    agents: Agents, ids: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    runs = [agents.get(f"/agent/runs/{run_id}") for run_id in ids]
    steps = [s for r in runs for s in r["steps"]]
    return runs, steps


def assert_close(actual: Any, expected: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert set(actual) >= set(expected), (path, set(expected) - set(actual))
        for key, value in expected.items():
            assert_close(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), (path, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-6), (path, actual, expected)
    else:
        assert actual == expected, (path, actual, expected)


def test_stats_over_all_runs(agents: Agents) -> None:
    ids = agents.send(SPECS)
    runs, steps = measured(agents, ids)
    stats = agents.get("/agent/runs/stats")
    assert_close(stats, expected_stats(SPECS, runs, steps))
    assert stats["bucket"] == "hour"


def test_stats_follow_the_filters(agents: Agents) -> None:
    ids = agents.send(SPECS)
    chosen = [(s, i) for s, i in zip(SPECS, ids, strict=True) if s.source == "n8n"]
    runs, steps = measured(agents, [i for _, i in chosen])
    stats = agents.get("/agent/runs/stats", source="n8n")
    assert_close(stats, expected_stats([s for s, _ in chosen], runs, steps))

    failed = agents.get("/agent/runs/stats", status="failed", tool="docker_logs")
    assert failed["total_runs"] == 1 and failed["by_status"] == {"failed": 1}
    assert failed["error_rate"] == 1.0
    assert [t["tool_name"] for t in failed["top_tools"]] == ["docker_logs"]


def test_buckets_by_day_and_automatic_choice(agents: Agents) -> None:
    agents.send(SPECS[:3])
    runs = agents.get("/agent/runs")["runs"]
    day = datetime.fromisoformat(runs[0]["started_at"][:-1]).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    by_day = agents.get("/agent/runs/stats", bucket="day")
    assert by_day["bucket"] == "day"
    assert {(b["bucket"], b["status"], b["runs"]) for b in by_day["runs_over_time"]} == {
        (day.isoformat(timespec="microseconds") + "Z", "completed", 2),
        (day.isoformat(timespec="microseconds") + "Z", "failed", 1),
    }
    week = {
        "since": (day - timedelta(days=6)).isoformat() + "Z",
        "until": (day + timedelta(days=1)).isoformat() + "Z",
    }
    assert agents.get("/agent/runs/stats", **week)["bucket"] == "day"
    two_days = {
        "since": (day - timedelta(days=1)).isoformat() + "Z",
        "until": (day + timedelta(days=1)).isoformat() + "Z",
    }
    assert agents.get("/agent/runs/stats", **two_days)["bucket"] == "hour"


def test_empty_stats(agents: Agents) -> None:
    stats = agents.get("/agent/runs/stats")
    assert stats["total_runs"] == 0
    assert stats["error_rate"] == 0.0
    assert stats["duration_ms"] == {"p50": None, "p95": None, "max": None}
    assert stats["top_tools"] == [] and stats["runs_over_time"] == []
    assert stats["tokens"] == {"input": 0, "output": 0}


def test_bad_bucket_is_400(agents: Agents) -> None:
    response = agents.api.get("/agent/runs/stats", params={"bucket": "minute"})
    assert response.status_code == 400 and "bucket" in response.json()["detail"]
