"""Failure shapes of the frameworks captured by capture_failures_more.py (which says the
versions): the model server failing through every retry, a rate limit retried, a tool that
raises, and the framework's own step limit. Each run is read against two things in
``failures_<framework>.expected.json``: what the framework returned or raised
(``failures``), and how a person reading the framework's logs writes the run (``runs``: its
status, answer, error, and its steps in order with theirs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.frameworks.captured import failures_scenario as F
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    send_capture,
    settled_runs,
)

FRAMEWORKS = ("crewai", "llamaindex", "agno", "google_adk", "semantic_kernel", "haystack")
SHAPES = ("exhausted", "throttled", "raises", "step_limit")


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    handle = start_test_collector(tmp_path_factory.mktemp("failures_more") / "audit.duckdb")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def replayed(collector: CollectorHandle) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each capture sent once: its expectations, and the runs the collector made, by shape.
    The shapes ran one after another in the order the expectations list them (Semantic
    Kernel's spans hold no task to match a run by)."""
    out = {}
    for framework in FRAMEWORKS:
        name = f"failures_{framework}"
        body = body_of(name)
        send_capture(collector, body)
        expected = expected_of(name)
        rows = settled_runs(collector, body, len(SHAPES), what=name)
        runs = dict(zip(expected["failures"], rows, strict=True))
        for shape, run in runs.items():
            assert run[3] in (expected["failures"][shape]["task"], None), (shape, run)
        out[framework] = (expected, runs)
    return out


def _failure(seen: dict[str, Any]) -> str:
    """What the caller saw fail: what was raised, or the error an Agno run returns (its
    ``content``, its status ``error``: ``agent.run`` does not raise)."""
    returned = seen["answer"]
    if isinstance(returned, dict) and returned.get("status") == "RunStatus.error":
        return str(returned.get("content"))
    return str(seen["raised"])


def _contains(text: str | None, part: str | None) -> bool:
    return text is None if part is None else text is not None and part in text


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_failure_reads_as_the_framework_logged_it(
    collector: CollectorHandle,
    replayed: dict[str, tuple[dict[str, Any], dict[str, Any]]],
    framework: str,
    shape: str,
) -> None:
    """The run's status, answer and error, and its steps in order (kind, tool, status, the
    error naming what failed), as the reading in the expectations says; a run that failed
    with what the framework raised, one that answered with what it returned."""
    expected, runs = replayed[framework]
    seen, reading = expected["failures"][shape], expected["runs"][shape]
    run = runs[shape]
    status, answer, error = run[2], run[4], run[5]
    agent = reading.get("agent", "failure_agent")
    assert (run[1], status, answer) == (agent, reading["status"], reading["answer"])
    assert _contains(error, reading["error"]), error
    if reading["status"] == "failed" or (seen["raised"] and reading["error"]):
        assert reading["error"] in _failure(seen), seen
    elif seen["raised"] is None:
        returned = seen["answer"]
        content = returned.get("content") if isinstance(returned, dict) else returned
        assert (content or None) == reading["answer"], returned  # "" is no answer
    steps = run_steps(collector, run[0])
    read = [[s[0], s[1], s[4]] for s in steps]
    assert read == [step[:3] for step in reading["steps"]]
    for step, want in zip(steps, reading["steps"], strict=True):
        assert _contains(step[5], want[3]), (step, want)
    tools = [s for s in steps if s[0] == "tool_call"]
    assert all(json.loads(s[2]) == F.CITY for s in tools), tools


def test_the_readings_are_those_of_the_capture_script() -> None:
    """The readings committed beside each capture are the ones its script states now."""
    from tests.frameworks.captured.capture_failures_more import READINGS

    for framework in FRAMEWORKS:
        committed = expected_of(f"failures_{framework}")["runs"]
        assert committed == json.loads(json.dumps(READINGS[framework]))
