"""Scenarios several tests check, played once per framework and exporter: one agent process
(python -m tests.frameworks.collector_run) plays them all against one real collector.

Starting a framework's process is most of a scenario's cost (importing Google ADK takes
10-30 s on a busy machine, a scenario well under a second), so each (framework, exporter)
below is started once per test session, by the first test that asks for it. Tests tell
their scenario's runs apart by the markers in the tasks and by trace; each also checks
that the collector holds no run beyond the expected ones of every scenario played there.

After playing, the collector is stopped and its files copied; it starts again on the
played file, as it was, for the tests' checks. Asked for them, ``agent-audit rederive``
rebuilds the runs and steps of the copy from the stored spans (test_orchestration.py
compares them with those derived live).

Tests of one play share an xdist group (:func:`cases`), so one worker plays it; the
``plays`` fixture (tests/frameworks/conftest.py) holds a session's plays.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.frameworks.collector_checks import one_run
from tests.frameworks.teams import derived_rows, rederived_rows

__all__ = ["PLAYS", "Played", "Plays", "cases"]

Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]

# (framework, exporter) -> the scenarios its one process plays.
PLAYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("pydantic-ai", "grpc"): ("two_in_one_span", "output_retry"),
    ("smolagents", "http"): ("two_in_one_span",),
    ("langgraph", "grpc"): ("two_in_one_span", "fan_out", "subgraph", "chains"),
    ("langgraph-openllmetry", "http"): ("two_in_one_span", "fan_out", "subgraph", "chains"),
    ("langgraph", "http"): ("tool_node_handles_error",),
    ("langgraph-openllmetry", "grpc"): ("tool_node_handles_error",),
    ("strands", "grpc"): ("two_in_one_span",),
    ("google-adk", "http"): ("two_in_one_span", "parallel"),
    ("openai-agents", "grpc"): ("nested_streamed",),
}
# Runs a scenario makes beyond its expected ones, checked by its test (an ADK
# ParallelAgent's branches).
EXTRA_RUNS = {"parallel": 3}


def cases(scenario: str) -> list[Any]:
    """``pytest.param(framework, protocol)`` for every play of ``scenario``, in the play's
    xdist group."""
    return [
        pytest.param(
            framework, protocol, marks=pytest.mark.xdist_group(f"play-{framework}-{protocol}")
        )
        for (framework, protocol), scenarios in PLAYS.items()
        if scenario in scenarios
    ]


@dataclass
class Played:
    """One play: its collector (running again on the played file), each scenario's
    expected runs, the runs and steps as derived live, and a copy of the played files."""

    framework: str
    collector: CollectorHandle
    expected: dict[str, list[dict[str, Any]]]
    live: Rows
    copy: Path  # the database file of the copy

    @functools.cached_property
    def rederived(self) -> Rows:
        """The runs and steps of the copy after ``agent-audit rederive``."""
        return rederived_rows(self.copy)

    def runs_of(self, scenario: str) -> list[dict[str, Any]]:
        """The expected runs of ``scenario`` (it must be one of the play's)."""
        return self.expected[scenario]

    def run_ids(self, scenario: str) -> list[str]:
        """The ids of ``scenario``'s expected runs, found by the markers in their tasks."""
        return [one_run(self.collector, run["task"], agent_name=_agent(run))["id"]
                for run in self.expected[scenario]]  # fmt: skip

    def runs_in_traces_of(self, run_ids: list[str]) -> int:
        """How many runs the collector holds in the traces of ``run_ids``."""
        found = self.collector.query(
            "SELECT count(*) FROM agent_runs WHERE trace_id IN "
            "(SELECT trace_id FROM agent_runs WHERE id IN (SELECT unnest(?)))",
            [run_ids],
        )
        return int(found[0][0])

    def check_no_other_runs(self) -> None:
        """The collector holds every scenario's expected runs and nothing else."""
        wanted = sum(len(runs) + EXTRA_RUNS.get(name, 0) for name, runs in self.expected.items())
        assert self.collector.query("SELECT count(*) FROM agent_runs")[0][0] == wanted


def _agent(run: dict[str, Any]) -> str | None:
    return run["agent_name"] if run.get("task_shared") else None


@dataclass
class Plays:
    """The plays of one test session (one pytest-xdist worker), started when first asked."""

    root: Path
    played: dict[tuple[str, str], Played] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, framework: str, protocol: str) -> Played:
        """The play of ``framework`` over ``protocol``; a play that failed fails every test
        that asks for it again, with the first failure, rather than being played again."""
        key = (framework, protocol)
        if key in self.failed:
            pytest.fail(f"the play of {framework} over {protocol} failed: {self.failed[key]}")
        if key not in self.played:
            try:
                self.played[key] = _play(framework, protocol, self.root / "-".join(key))
            except BaseException as exc:
                self.failed[key] = f"{type(exc).__name__}: {exc}"[:4000]
                raise
        return self.played[key]

    def close(self) -> None:
        for played in self.played.values():
            played.collector.stop()


def _play(framework: str, protocol: str, folder: Path) -> Played:
    from tests.frameworks.test_collector_frameworks import _run_scenarios

    folder.mkdir(parents=True)
    db = folder / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        scenarios = PLAYS[framework, protocol]
        report = _run_scenarios(
            framework, protocol, collector, folder / "expected.json", "--only", *scenarios
        )
        expected = {item["scenario"]: item["runs"] for item in report["results"]}
        assert sorted(expected) == sorted(scenarios), expected
        for runs in expected.values():  # every run finished and derived before comparing
            for run in runs:
                one_run(collector, run["task"], agent_name=_agent(run))
        collector.store.await_applied()
        live = derived_rows(collector.query)
    finally:
        collector.stop()
    clone = folder / "rederived"
    clone.mkdir()
    for path in folder.glob(f"{db.name}*"):  # the file, its WAL, chain key, commit mark...
        if path.is_dir():
            shutil.copytree(path, clone / path.name)
        else:
            shutil.copy2(path, clone / path.name)
    return Played(framework, start_test_collector(db), expected, live, clone / db.name)
