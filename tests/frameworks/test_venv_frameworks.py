"""Frameworks that need a virtualenv of their own (their pins clash with the project's),
run for real against the scripted LLM and the real collector, then checked field by field.

Each framework's agent script runs under its venv's python (see venv_frameworks.py); .ci/run
builds the venvs, so in CI a missing one fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.frameworks import plans_autogen, plans_crewai, plans_llamaindex, plans_traceloop
from tests.frameworks.collector_checks import check_run, check_tokens_counted_once
from tests.frameworks.venv_frameworks import run_agent_script, venv_python
from tests.scripted_llm import ScriptedLLM
from tests.support import require_or_skip

PLANS = {
    "crewai": plans_crewai.plan,
    "llamaindex": plans_llamaindex.plan,
    "autogen": plans_autogen.plan,
    "traceloop": plans_traceloop.plan,
}
CASES = [("crewai", "grpc"), ("llamaindex", "http"), ("autogen", "grpc"), ("traceloop", "http")]


@pytest.mark.parametrize(("framework", "protocol"), CASES)
def test_framework_in_its_own_venv_reaches_the_collector(
    framework: str, protocol: str, collector: Any, tmp_path: Path
) -> None:
    python = venv_python(framework)
    require_or_skip(python.exists(), f"{framework} runs in {python.parent.parent} (.ci/run)")
    plan = PLANS[framework]()
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    with ScriptedLLM() as llm:
        expected_runs = run_agent_script(framework, plan, llm, endpoint, protocol, tmp_path)
    for expected in expected_runs:
        check_run(collector, expected, framework)
    # Nothing else became a run (no crew wrapper runs, no duplicates), no step lost its run.
    assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == len(expected_runs)
    orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
    assert orphans[0][0] == 0
    check_tokens_counted_once(collector)
