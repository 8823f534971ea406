"""The gateway's time limit: when it reports a kill, the command's whole group is gone."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from ssh_tools.gateway import run_capped

# A command that leaves many children behind, all ignoring SIGTERM.
_SPAWNER = """
import os, signal, subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    for _ in range(int(sys.argv[1]))]
print(" ".join(str(k.pid) for k in kids), flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


@pytest.mark.parametrize("children", [1, 8, 24])
def test_a_timed_out_command_group_is_gone_when_run_capped_returns(children: int) -> None:
    out = io.BytesIO()
    outcome = run_capped(
        [sys.executable, "-c", _SPAWNER, str(children)],
        timeout_s=3.0,
        max_output_bytes=65536,
        stdout=out,
        stderr=io.BytesIO(),
    )
    assert outcome.timed_out
    pids = [int(p) for p in out.getvalue().split()]
    assert len(pids) == children
    alive = [pid for pid in pids if _running(pid)]
    assert alive == [], f"{len(alive)} of {children} children still running after the report"
