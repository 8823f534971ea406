"""Nothing a sender stored reaches the terminal as a control sequence, whatever CLI
command prints it.

Found from outside: ``agent-audit show <prefix>`` matching several runs listed
their ids raw on stderr, so a run id holding ``ESC [ 2 J`` cleared the user's
screen (and bidi overrides reordered the line); ``cancel`` echoed the id and
the API's answer raw, and ``verify`` printed the run id of a tampered row raw,
so a crafted id could rewrite the ``TAMPERED`` line itself. Every message now
goes through the same inert filter as the tables (collector/cli/terminal.py).
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from opentelemetry.trace import Status, StatusCode, Tracer

from instrumentation import attributes as A
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import REPO, run_cli, wait_until

# One of each kind: CSI and OSC escapes, a C1 CSI, BEL, backspace, carriage return,
# DEL, NUL, bidi overrides and isolates, a line separator.
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\x08\r\x7f\x00\u202e\u2066\u2028"
PREFIX = "evil"
# A prefix names one run ("evil0") or both ("evil"); argv cannot carry the NUL.
RUN_IDS = [f"{PREFIX}{n}{HOSTILE}" for n in range(2)]


def _dangerous(text: str) -> list[str]:
    """Characters a terminal would act on rather than show."""
    return sorted(
        {
            repr(ch)
            for ch in text
            if (ord(ch) < 0x20 and ch != "\n")
            or 0x7F <= ord(ch) <= 0x9F
            or (unicodedata.category(ch) in ("Cf", "Zl", "Zp") and ch != "\u200d")
        }
    )


def _hostile_run(tracer: Tracer, run_id: str) -> None:
    with tracer.start_as_current_span(f"invoke_agent {HOSTILE}") as run:
        run.set_attribute(A.GEN_AI_OPERATION_NAME, "invoke_agent")
        run.set_attribute(A.RUN_ID, run_id)
        run.set_attribute(A.GEN_AI_AGENT_NAME, f"agent{HOSTILE}")
        run.set_attribute(A.RUN_TASK, f"task{HOSTILE}")
        run.set_attribute(A.RUN_SOURCE, f"source{HOSTILE}")
        run.set_attribute(A.GEN_AI_REQUEST_MODEL, f"model{HOSTILE}")
        with tracer.start_as_current_span(f"execute_tool {HOSTILE}") as step:
            step.set_attribute(A.GEN_AI_OPERATION_NAME, "execute_tool")
            step.set_attribute(A.RUN_ID, run_id)
            step.set_attribute(A.GEN_AI_TOOL_NAME, f"tool{HOSTILE}")
            step.set_attribute(A.GEN_AI_TOOL_CALL_ARGUMENTS, f'{{"{HOSTILE}": "{HOSTILE}"}}')
            step.set_attribute(A.GEN_AI_TOOL_CALL_RESULT, f"result{HOSTILE}")
            step.set_status(Status(StatusCode.ERROR, f"failed{HOSTILE}"))
        run.set_status(Status(StatusCode.ERROR, f"error{HOSTILE}"))


def _seed(handle: CollectorHandle) -> None:
    spans = record_spans(
        lambda t: [_hostile_run(t, run_id) for run_id in RUN_IDS], service=f"svc{HOSTILE}"
    )
    export("http-protobuf", handle, spans)

    def stored() -> bool:
        runs = httpx.get(f"{handle.api_url}/agent/runs", params={"q": PREFIX}, timeout=30).json()[
            "runs"
        ]
        return len(runs) == len(RUN_IDS) and all(r["total_steps"] == 1 for r in runs)

    assert wait_until(stored, timeout_s=30)


@pytest.fixture(scope="module")
def seeded(module_collector: CollectorHandle) -> CollectorHandle:
    _seed(module_collector)
    return module_collector


COMMANDS = {
    "runs": ["runs"],
    "runs --stats": ["runs", "--stats"],
    "runs --json": ["runs", "--json"],
    "show": ["show", f"{PREFIX}0"],
    "show --json": ["show", "--json", f"{PREFIX}0"],
    "show, a prefix of two runs": ["show", PREFIX],
    "cancel, a prefix of two runs": ["cancel", PREFIX],
    "cancel, a finished run": ["cancel", f"{PREFIX}1"],
    "sql": ["sql", "SELECT id, task, agent_name FROM agent_runs"],
    "verify --api": ["verify"],
}


# Commands whose answer names no stored value (nothing to see made visible).
QUIET = {"verify --api", "cancel, a prefix of two runs"}


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_output_holds_no_control_sequence(seeded: CollectorHandle, command: str) -> None:
    args = COMMANDS[command]
    api = ["--api", seeded.api_url]
    result = run_cli(*args[:1], *api, *args[1:])
    out = _output(result)
    assert _dangerous(out) == [], (command, result.returncode, out[-2000:])
    # It did print what was stored, made visible: the escape shows as text.
    if command not in QUIET:
        assert "\\x1b" in out or "\\u001b" in out, (command, out[-2000:])


@pytest.fixture
def tampered(tmp_path: Path) -> Iterator[Path]:
    """A store whose hostile run was altered while the collector was stopped."""
    db = tmp_path / "tampered.duckdb"
    handle = start_test_collector(db)
    try:
        _seed(handle)
    finally:
        handle.stop()
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE agent_runs SET task = 'edited' WHERE id = ?", [RUN_IDS[0]])
    yield db


def test_verify_names_a_tampered_hostile_run_inertly(tampered: Path) -> None:
    result = run_cli("verify", "--db", str(tampered))
    out = _output(result)
    assert result.returncode == 1, out
    assert out.startswith("TAMPERED: "), out
    assert _dangerous(out) == [], out
    assert "\\x1b" in out, out


def test_runs_follow_prints_a_new_hostile_run_inertly(seeded: CollectorHandle) -> None:
    """``runs --follow`` printed each new run's short id raw: eight characters are
    enough for ``ESC ] 0 ; x BEL`` (a window title) or ``ESC [ 2 J``."""
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "collector.cli", "runs", "--follow", "--interval", "0.2",
            "--api", seeded.api_url,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def has(fragment: str, count: int = 1) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return sum(1 for line in seen if re.search(fragment, line)) >= count

    try:
        wait_until(lambda: has("following"), timeout_s=30, what="the first table")
        # Both short ids hold an escape within their first eight characters.
        new_ids = ["\x1b]0;own\x07-follow", "f\x1b[2J-follow"]

        def new_runs(tracer: Tracer) -> None:
            for run_id in new_ids:
                _hostile_run(tracer, run_id)

        spans = record_spans(new_runs)
        export("http-protobuf", seeded, spans)
        wait_until(lambda: has(r"^\d\d:\d\d:\d\d \+ ", 2), timeout_s=30, what="the new runs")
    finally:
        proc.kill()
        proc.wait(30)
    out = "".join(seen)
    assert _dangerous(out) == [], out[-2000:]
    assert "\\x1b]0;own\\x07" in out and "f\\x1b[2J" in out, out[-2000:]
