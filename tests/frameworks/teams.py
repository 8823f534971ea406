"""Multi-agent teams (AutoGen's group chats): the run a team should leave, one child run per
agent turn, and the checks of what the collector derived. Also the rows ``rederive`` must
give back unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tests.frameworks.collector_checks import one_run, steps_of
from tests.frameworks.scenario import ToolExpectation
from tests.support import run_cli

__all__ = ["TurnExpectation", "TeamExpectation", "check_team", "derived_rows"]


@dataclass(frozen=True)
class TurnExpectation:
    """One agent's turn in a team: a child run of the team's run."""

    agent_name: str
    status: str
    final_answer: str | None  # substring; None: no answer
    tools: list[ToolExpectation] = field(default_factory=list)
    llm_steps: int = 1
    error: str | None = None


@dataclass(frozen=True)
class TeamExpectation:
    """A team run: its own fields, its own steps (a selector's model calls) and its turns."""

    task: str  # substring of agent_runs.task; starts with the scenario's marker
    agent_name: str  # the team's class
    status: str
    final_answer: str | None
    turns: list[TurnExpectation]
    error: str | None = None
    own_llm_steps: int = 0
    model_requested: str | None = None


def _check_tools(steps: list[dict[str, Any]], expected: list[dict[str, Any]], where: str) -> None:
    tools = [s for s in steps if s["action_type"] == "tool_call"]
    assert [t["tool_name"] for t in tools] == [t["name"] for t in expected], where
    for got, want in zip(tools, expected, strict=True):
        assert json.loads(got["tool_args"]) == want["args"], (where, got, want)
        if want["result"] is not None:
            assert want["result"] in (got["tool_result"] or ""), (where, got, want)
        if want["error"] is None:
            assert got["error"] is None and got["status"] == "ok", (where, got)
        else:
            assert want["error"] in (got["error"] or ""), (where, got, want)


def _check_answer(got: str | None, want: str | None, where: str) -> None:
    if want is None:
        assert got is None, where
    else:
        assert want in (got or ""), where


def check_team(collector: Any, expected: dict[str, Any], framework: str) -> None:
    """The team's run (the one run of its marker without a parent) and its turns, in order."""
    team = one_run(collector, expected["task"], top_level=True)
    where = f"{framework} team {expected['task']!r}: {team}"
    assert team["task"] == expected["task"], where  # what it was given, not a message's repr
    assert team["agent_name"] == expected["agent_name"], where
    assert team["status"] == expected["status"], where
    assert team["service_name"] == f"fw-{framework}", where
    _check_answer(team["final_answer"], expected["final_answer"], where)
    _check_answer(team["error"], expected["error"], where)
    assert team["model_used"], where
    if expected["model_requested"]:
        assert team["model_requested"] == expected["model_requested"], where
    own = steps_of(collector, team["id"])
    assert [s["action_type"] for s in own] == ["think"] * expected["own_llm_steps"], (where, own)
    assert team["total_steps"] == len(own), where

    columns = ("id", "agent_name", "status", "final_answer", "error", "total_steps", "task")
    rows = collector.query(
        f"SELECT {', '.join(columns)} FROM agent_runs WHERE parent_run_id = ? ORDER BY started_at",
        [team["id"]],
    )
    turns = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [t["agent_name"] for t in turns] == [t["agent_name"] for t in expected["turns"]], (
        where,
        turns,
    )
    for number, (got, want) in enumerate(zip(turns, expected["turns"], strict=True), 1):
        at = f"{where}, turn {number} {got}"
        assert got["status"] == want["status"], at
        assert expected["task"] in (got["task"] or ""), at  # a turn works on the team's task
        _check_answer(got["final_answer"], want["final_answer"], at)
        _check_answer(got["error"], want["error"], at)
        steps = steps_of(collector, got["id"])
        assert got["total_steps"] == len(steps), at
        assert [s["step_number"] for s in steps] == list(range(1, len(steps) + 1)), at
        _check_tools(steps, want["tools"], at)
        calls = [s for s in steps if s["action_type"] == "think"]
        assert len(calls) == want["llm_steps"], (at, steps)
        answered = [s for s in calls if s["error"] is None]
        assert all(s["model"] and s["input_tokens"] and s["output_tokens"] for s in answered), at

    # Every step is counted once: in the team's run or in one turn's, nowhere else.
    trace_steps = collector.query(
        "SELECT count(*), count(DISTINCT id) FROM agent_steps WHERE agent_run_id IN "
        "(SELECT id FROM agent_runs WHERE id = ? OR parent_run_id = ?)",
        [team["id"], team["id"]],
    )[0]
    assert trace_steps[0] == trace_steps[1] == len(own) + sum(t["total_steps"] for t in turns)


_RUN_FIELDS = (
    "id, task, status, final_answer, error, agent_name, model_requested, model_used, "
    "parent_run_id, total_steps, input_tokens, output_tokens"
)
_STEP_FIELDS = (
    "id, agent_run_id, step_number, action_type, tool_name, tool_args, tool_result, error, "
    "status, model, input_tokens, output_tokens"
)


def derived_rows(query: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every run and step as a person reads them, in a stable order (to compare after
    ``agent-audit rederive``); ``query(sql)`` runs SQL on the collector or the file."""
    runs = query(f"SELECT {_RUN_FIELDS} FROM agent_runs ORDER BY id")
    steps = query(f"SELECT {_STEP_FIELDS} FROM agent_steps ORDER BY id")
    return [tuple(r) for r in runs], [tuple(s) for s in steps]


def rederived_rows(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``agent-audit rederive --db db`` (collector stopped), then :func:`derived_rows`."""
    done = run_cli("rederive", "--db", str(db))
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        return derived_rows(lambda sql: con.execute(sql).fetchall())
    finally:
        con.close()
