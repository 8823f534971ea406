"""``agent-audit runs --follow`` as a subprocess: new runs and status changes appear."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from instrumentation import agent_run
from tests.collector.api.conftest import Agents, RunSpec
from tests.collector.api.test_cli import ENV, REPO, assert_inert
from tests.support import wait_until


def test_follow_prints_new_runs_and_status_changes(agents: Agents) -> None:
    sent = agents.send([RunSpec("already there"), RunSpec("failed before", status="failed")])
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "collector.cli", "runs", "--follow", "--interval", "0.2",
            "--api", agents.collector.api_url,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO,
        # As from a terminal: a shell's background job (`cmd &`) ignores SIGINT, and
        # the command would inherit that from the test run.
        preexec_fn=_sigint_as_in_a_terminal,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    errors: list[str] = []  # drained too: a full stderr pipe would block the command

    def pump_errors() -> None:
        assert proc.stderr is not None
        errors.extend(proc.stderr)

    threading.Thread(target=pump, daemon=True).start()
    threading.Thread(target=pump_errors, daemon=True).start()

    def has(fragment: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(fragment in line for line in seen)

    try:
        wait_until(lambda: has("following"), timeout_s=20, what="the first table")
        assert sum(1 for line in seen if sent[1][:8] in line) == 1
        with agent_run("followed job", source="api") as run:
            agents.provider.force_flush(5000)
            wait_until(lambda: has(f"+ running      {run.id[:8]}"), timeout_s=15, what="new run")
            run.finish(final_answer="ok")
        agents.flush_and_wait([run.id])
        wait_until(lambda: has(f"~ completed    {run.id[:8]}"), timeout_s=15, what="change")
        assert_inert("".join(seen))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            signals = _signal_masks(proc.pid)
            proc.kill()
            raise AssertionError(
                f"no exit 30 s after SIGINT; {signals}; stderr: {''.join(errors)[-2000:]}"
            ) from None
        assert code == 130, "".join(errors)[-2000:]


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_masks(pid: int) -> str:
    """The process's ignored and caught signals, to tell a hang from an ignored SIGINT."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        return f"no status: {exc}"
    return " ".join(
        line for line in status.splitlines() if line.startswith(("SigIgn", "SigCgt", "State"))
    )
