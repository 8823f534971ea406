"""Releases of supported frameworks other than the ones the project's environment pins, as
they really traced the framework tests' own scenarios: the spans, captured by
``captured/capture_<framework>.py`` (which says the versions), are sent over the wire to a
real collector and every run is checked field by field as test_collector_frameworks.py
checks the pinned release."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured.capture_google_adk import SUB_AGENT_REQUEST
from tests.frameworks.collector_checks import check_run, check_tokens_counted_once
from tests.frameworks.test_captured_frameworks import CAPTURED, _send, _trace_ids
from tests.support import wait_until

# capture name -> the framework name its runs' service is called after (fw-<framework>)
RELEASES = {"google_adk_2": "google-adk", "google_adk_2_schema_1": "google-adk"}


def _expected_runs(name: str) -> list[dict[str, Any]]:
    report = json.loads((CAPTURED / f"{name}.expected.json").read_text())
    return [run for item in report["results"] for run in item["runs"]]


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_another_release_reads_as_the_pinned_one(collector: CollectorHandle, name: str) -> None:
    body = (CAPTURED / f"{name}.otlp").read_bytes()
    _send(collector, body)
    expected_runs = _expected_runs(name)
    for expected in expected_runs:
        check_run(collector, expected, RELEASES[name])
    # Nothing else became a run, and no step is left outside one. The one run the
    # expectations leave out: the failing AgentTool child of ``sub_agent_fails`` (its
    # request carries no marker), failed inside its parent.
    children = collector.query(
        "SELECT status, parent_run_id IS NOT NULL FROM agent_runs WHERE task = ?",
        [SUB_AGENT_REQUEST],
    )
    assert children == [("failed", True)]
    assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == len(expected_runs) + 1
    orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
    assert orphans[0][0] == 0
    check_tokens_counted_once(collector)
    assert len(_trace_ids(body)) >= len({r["task"] for r in expected_runs if not r["parent_task"]})


def test_adk_2_without_content_keeps_the_shape_of_its_runs(collector: CollectorHandle) -> None:
    """ADK 2 records no message or tool content unless
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` asks for it (its default): the
    runs still have their agent, outcome, error, nesting, steps, tool names and tokens; no
    task, answer, arguments or results are made up."""
    name = "google_adk_2_no_content"
    body = (CAPTURED / f"{name}.otlp").read_bytes()
    _send(collector, body)
    expected_runs = _expected_runs(name)

    def settled() -> list[tuple[Any, ...]] | None:
        rows = collector.query(
            "SELECT id, task, agent_name, status, error, final_answer, parent_run_id, "
            "input_tokens, output_tokens FROM agent_runs ORDER BY started_at"
        )
        done = len(rows) == len(expected_runs) and all(r[3] != "running" for r in rows)
        return rows if done else None

    runs = wait_until(settled, timeout_s=15, what=f"the runs of {name}")
    assert runs is not None
    for run, want in zip(runs, expected_runs, strict=True):
        where = (run, want["task"])
        assert run[1:4] == (None, want["agent_name"], want["status"]), where
        assert (run[4] is None) == (want["error"] is None), where
        assert want["error"] is None or want["error"] in run[4], where
        assert run[5] is None and (run[6] is not None) == bool(want["parent_task"]), where
        steps = collector.query(
            "SELECT action_type, tool_name, tool_args, tool_result, input_tokens "
            "FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number",
            [run[0]],
        )
        tools = [s for s in steps if s[0] == "tool_call"]
        assert [s[1] for s in tools] == [t["name"] for t in want["tools"]], where
        assert all(s[2] is None and s[3] is None for s in tools), where
        thinks = [s for s in steps if s[0] == "think"]
        assert len(thinks) >= want["llm_steps_at_least"], where
        assert run[7] == sum(s[4] or 0 for s in thinks) and run[7] > 0, where
    check_tokens_counted_once(collector)
