"""Strands' multi-agent Swarm against the real collector: one run for the swarm, each agent's
turn a run nested under it with its hand-off as a tool step, and a swarm stopped by
``max_handoffs``; a two-node ``Graph`` the same way. The same rows again after
``agent-audit rederive``.

The swarm runs in a subprocess set up like a user's agent (``configure`` then
``auto.instrument(["strands"])``), as in test_collector_frameworks; this module is also that
subprocess's entry point:

    python -m tests.frameworks.test_strands_swarm --endpoint http://127.0.0.1:4317 \
        --protocol grpc --out out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_test_collector
from tests.frameworks.teams import check_team, derived_rows, rederived_rows
from tests.support import require_or_skip

REPO = Path(__file__).resolve().parents[2]
FRAMEWORK = "strands-swarm"


# Strands' default GenAI events, and the latest conventions (operation-details events).
@pytest.mark.parametrize(("protocol", "semconv"), [("grpc", "default"), ("http", "latest")])
def test_a_swarm_is_one_run_with_a_turn_per_agent(
    protocol: str, semconv: str, tmp_path: Path
) -> None:
    missing = [m for m in ("strands", "strands.multiagent") if importlib.util.find_spec(m) is None]
    require_or_skip(not missing, f"the Swarm needs {missing} (the test extra installs them)")
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        before = _play_and_check(collector, protocol, semconv, tmp_path / "expected.json")
    finally:
        collector.stop()
    # Re-deriving from the stored spans gives the same runs and steps.
    assert rederived_rows(db) == before


def _play_and_check(collector: Any, protocol: str, semconv: str, out: Path) -> Any:
    """Play the swarms in a subprocess, check what the collector made of them; its rows."""
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if semconv == "latest":
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    done = subprocess.run(
        [sys.executable, "-m", "tests.frameworks.test_strands_swarm"]
        + ["--endpoint", endpoint, "--protocol", protocol, "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    expected = json.loads(out.read_text())
    assert len(expected) == 3
    for team in expected:
        check_team(collector, team, FRAMEWORK)
    # The swarms and their turns, nothing else: no run for Strands' event-loop cycles.
    total = collector.query("SELECT count(*) FROM agent_runs")[0][0]
    assert total == sum(1 + len(team["turns"]) for team in expected)
    return derived_rows(collector.query)


def main(argv: list[str] | None = None) -> int:
    """Play the swarm and graph scenarios, exporting to the collector; write what it should show."""
    from instrumentation import auto, configure, shutdown
    from tests.frameworks import scenarios_strands
    from tests.frameworks.offline import refuse_internet
    from tests.scripted_llm import ScriptedLLM

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    refuse_internet()
    configure(
        endpoint=args.endpoint,
        protocol="grpc" if args.protocol == "grpc" else "http/protobuf",
        service_name=f"fw-{FRAMEWORK}",
        cancel_poll_s=None,
        schedule_delay_ms=200,
    )
    if auto.instrument(frameworks=["strands"]) != ["strands"]:
        raise SystemExit("could not instrument strands")
    with ScriptedLLM() as llm:
        try:
            expected = [
                scenarios_strands.swarm_handoff(llm),
                scenarios_strands.swarm_max_handoffs(llm),
                scenarios_strands.graph_pipeline(llm),
            ]
        finally:
            flushed = shutdown(timeout_s=20)
    if not flushed:
        raise SystemExit("spans were not all delivered to the collector")
    Path(args.out).write_text(json.dumps([dataclasses.asdict(e) for e in expected]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
