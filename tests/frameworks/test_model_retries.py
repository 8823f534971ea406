"""A model call answered 503 and tried again, live against the real collector: by the
framework's own retry (LangChain's ``ModelRetryMiddleware``: two model calls in the trace,
the first failed) or by the OpenAI client under the framework (one call in the trace). Either
way the run completes with its tool call and answer, and the failed attempt is never the
run's error (tests/frameworks/scenario_habits.py ``model_retried``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.frameworks.collector_checks import (
    check_run,
    check_tokens_counted_once,
    one_run,
    steps_of,
)
from tests.frameworks.scenario_habits import OVERLOADED
from tests.frameworks.test_collector_frameworks import _require, _run_scenarios

# framework, protocol, whether the trace holds the failed attempt
CASES = [
    ("langgraph", "grpc", True),
    ("langgraph-openllmetry", "http", True),
    ("openai-agents", "http", False),
    ("strands", "grpc", False),
]


@pytest.mark.parametrize(("framework", "protocol", "attempt_traced"), CASES)
def test_a_retried_model_call_leaves_the_run_completed(
    framework: str, protocol: str, attempt_traced: bool, collector: Any, tmp_path: Path
) -> None:
    _require(framework)
    report = _run_scenarios(
        framework, protocol, collector, tmp_path / "expected.json", "--only", "model_retried"
    )
    (expected,) = report["results"][0]["runs"]
    check_run(collector, expected, framework)
    check_tokens_counted_once(collector)
    run = one_run(collector, expected["task"])
    thinks = [s for s in steps_of(collector, run["id"]) if s["action_type"] == "think"]
    failed = [s for s in thinks if s["status"] == "error"]
    if attempt_traced:
        assert len(thinks) == 3, thinks
        assert thinks[0] == failed[0] and OVERLOADED in (failed[0]["error"] or ""), thinks
        assert len(failed) == 1, thinks
    else:
        assert (len(thinks), failed) == (2, []), thinks
