"""A burst at the source: an agent makes N runs as fast as it can; how many are stored?

    python -m bench.burst --runs 5000 [--steps 8] [--spool] [--baseline-repo /path/to/old/tree]

Starts a collector (``collector.cli collector`` on a temporary database), then an
agent process that calls ``configure()`` with its defaults and makes ``--runs``
runs of ``--steps`` tool steps (1 KB results) in a loop, with no pause, then
shuts down (flushing what is queued). The collector's ``agent_runs`` and
``spans`` are then counted through its API. With ``--baseline-repo`` the same
burst runs first with that tree's instrumentation (against its own fresh
collector of this tree), and the two are printed side by side.

Target (issue 17): every run stored, no span dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.collector_proc import REPO, spawn_collector

__all__ = ["main", "run_burst"]

_AGENT = r"""
import json, sys, time
from instrumentation import agent_run, configure, shutdown
from instrumentation import setup
endpoint, runs, steps, spool = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
configure(endpoint=endpoint, protocol="grpc", cancel_poll_s=None,
          spool_dir=spool or None, spool_retry_s=0.05)
result = "line of a docker log: container restarted after OOM kill\n" * 18
began = time.perf_counter()
for index in range(runs):
    with agent_run(f"burst run {index}", agent_name="burst") as run:
        for step in range(steps):
            with run.step("tool_call", tool_name="docker_logs") as s:
                s.set_result(result)
burst_s = time.perf_counter() - began
flushed = shutdown(timeout_s=600)
stats = {"burst_s": burst_s, "exit_s": time.perf_counter() - began - burst_s,
         "flushed": flushed, "dropped_spans": setup.last_dropped_spans()}
if hasattr(setup, "export_stats"):
    extra = setup.export_stats()
    stats.update(spilled_spans=extra.spilled_spans, waited_s=round(extra.waited_s, 2))
print(json.dumps(stats))
"""


def _count(api: str) -> tuple[int, int]:
    answer = httpx.post(
        f"{api}/sql",
        json={
            "sql": "SELECT (SELECT count(*) FROM agent_runs WHERE agent_name = 'burst'), "
            "(SELECT count(*) FROM spans)"
        },
        timeout=60,
    )
    answer.raise_for_status()
    runs, spans = answer.json()["rows"][0]
    return int(runs), int(spans)


def run_burst(
    *, runs: int, steps: int, spool: bool, agent_repo: Path, settle_s: float = 30.0
) -> dict[str, Any]:
    """One burst against a fresh collector; the agent's figures and what was stored."""
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        collector = spawn_collector(Path(tmp) / "burst.duckdb")
        try:
            spool_dir = str(Path(tmp) / "spool") if spool else ""
            began = time.monotonic()
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _AGENT,
                    f"http://{collector.grpc_target}",
                    str(runs),
                    str(steps),
                    spool_dir,
                ],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(agent_repo)},
                cwd=agent_repo,
                timeout=1800,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"agent failed:\n{done.stderr[-3000:]}")
            agent = json.loads(done.stdout.strip().splitlines()[-1])
            # Every span acknowledged is committed; wait only for stragglers in flight.
            deadline = time.monotonic() + settle_s
            stored = _count(collector.http_url)
            while stored[0] < runs and time.monotonic() < deadline:
                time.sleep(0.5)  # polling interval
                stored = _count(collector.http_url)
            total_s = time.monotonic() - began
        finally:
            collector.stop()
    return {
        "runs": runs,
        "spans_made": runs * (steps + 1),
        "runs_stored": stored[0],
        "spans_stored": stored[1],
        "agent_runs_per_s": round(runs / agent["burst_s"], 1),
        "end_to_end_s": round(total_s, 1),
        "warnings": [line for line in done.stderr.splitlines() if "WARNING" in line][:3],
        **agent,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--spool", action="store_true", help="with an on-disk spool")
    parser.add_argument("--baseline-repo", type=Path, help="a tree to compare against")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"cores": os.cpu_count()}
    if args.baseline_repo:
        result["baseline"] = run_burst(
            runs=args.runs, steps=args.steps, spool=args.spool, agent_repo=args.baseline_repo
        )
    result["this_tree"] = run_burst(
        runs=args.runs, steps=args.steps, spool=args.spool, agent_repo=REPO
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
