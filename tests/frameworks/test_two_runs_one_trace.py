"""Two runs of an agent one after the other inside one span of the caller's (one trace, as a
web request handling two questions), live against the real collector for every framework
whose runs have no trace of their own: two top-level runs, each with its own task, steps,
tokens and answer, and the caller's span no run (scenario_habits.py's ``outer_span``; each
framework's ``two_in_one_span``). The OpenAI Agents SDK's own ``trace()`` around two runs is
its ``one_trace`` scenario."""

from __future__ import annotations

import pytest

from tests.frameworks.collector_checks import check_run, check_tokens_counted_once, one_run
from tests.frameworks.shared_plays import Plays, cases
from tests.frameworks.test_collector_frameworks import _require


@pytest.mark.parametrize(("framework", "protocol"), cases("two_in_one_span"))
def test_two_runs_in_one_caller_span_stay_two_runs(
    framework: str, protocol: str, plays: Plays
) -> None:
    _require(framework)
    played = plays.get(framework, protocol)
    collector = played.collector
    first, second = played.runs_of("two_in_one_span")
    for expected in (first, second):
        check_run(collector, expected, framework)
    runs = [one_run(collector, expected["task"]) for expected in (first, second)]
    traces = collector.query(
        "SELECT DISTINCT trace_id FROM agent_runs WHERE id IN (?, ?)", [r["id"] for r in runs]
    )
    assert len(traces) == 1
    assert played.runs_in_traces_of([r["id"] for r in runs]) == 2
    played.check_no_other_runs()
    check_tokens_counted_once(collector)
