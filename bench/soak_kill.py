"""Soak: kill -9 the collector many times under load; nothing acknowledged may be lost.

The long version of tests/reliability/test_durability.py. Run from the repository root::

    python -m bench.soak_kill --kills 200 --seed 1

Prints the figures (kills, how many landed with requests in flight, requests and
spans acknowledged, answers seen, restart times, problems) and exits 1 if any
acknowledged span was missing or duplicated, or the hash chain broke.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench.reliability.chaos import KillCampaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the file and logs here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-kill-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def progress(text: str) -> None:
        print(text, flush=True)

    result = KillCampaign(workdir, kills=args.kills, seed=args.seed, progress=progress).run(
        drain_timeout_s=120
    )
    restarts = sorted(result.restart_s)
    print(f"workdir                       {workdir}")
    print(f"seed                          {args.seed}")
    print(f"kills (SIGKILL)               {result.kills}")
    print(f"  with requests in flight     {result.kills_with_requests_in_flight}")
    print(f"  before the ready line       {result.kills_before_ready}")
    print(f"requests acknowledged         {result.requests_acked} of {result.requests_attempted}")
    print(f"spans acknowledged            {result.spans_acked}")
    print(f"answers                       {dict(result.outcomes)}")
    if restarts:
        p95 = restarts[min(len(restarts) - 1, int(len(restarts) * 0.95))]
        print(
            f"restart to ready (s)          median {statistics.median(restarts):.2f}, "
            f"p95 {p95:.2f}, max {restarts[-1]:.2f}"
        )
    print(f"final SIGTERM exit code       {result.final_exit_code}")
    print(f"WAL bytes after SIGTERM       {result.final_wal_bytes}")
    print(f"elapsed (s)                   {result.elapsed_s:.0f}")
    print(f"problems                      {len(result.problems)}")
    for problem in result.problems[:50]:
        print(f"  {problem}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
