"""``GET /backup`` and ``agent-audit backup``: a copy of the live database a collector can serve."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import httpx

from collector.api import HEAD_HEADER
from collector.commit_mark import mark_path
from tests.collector.api.conftest import Agents, RunSpec, ToolCall
from tests.collector.api.test_cli import ENV, cli
from tests.conftest import start_test_collector
from tests.support import run_cli, unreachable_url, wait_until

SPECS = [
    RunSpec("restart web-1", source="n8n", tools=(ToolCall("docker_ps", result="web-1 Up"),)),
    RunSpec("check disk", status="failed", error="disk full", tools=(ToolCall("df"),)),
    RunSpec("tail logs", final_answer="quiet", tools=(ToolCall("docker_logs", result="ok"),)),
]
TABLES = ("spans", "span_chain", "agent_runs", "agent_steps", "schema_version")


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}


def verify(db: Path, key: Path) -> subprocess.CompletedProcess[str]:
    # The chain key never travels with a backup: the operator keeps it (here, the
    # collector's own <db>.key).
    return run_cli("verify", "--db", str(db), "--key", str(key))


def chain_key(agents: Agents) -> Path:
    db = agents.collector.db_path
    return db.with_name(db.name + ".key")


def test_backup_copies_every_table_and_a_collector_serves_it(
    agents: Agents, tmp_path: Path
) -> None:
    sent = agents.send(SPECS)
    target = tmp_path / "copy.duckdb"
    out = cli(agents.collector.api_url, "backup", str(target))
    assert out.returncode == 0, out.stderr
    assert f"backup saved: {target} (3 runs," in out.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []

    live = {t: agents.collector.query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
    with duckdb.connect(str(target), read_only=True) as copy:
        assert counts(copy) == live
        assert live["spans"] > 0 and live["span_chain"] == live["spans"]
        head = "SELECT seq, hash FROM span_chain ORDER BY seq DESC LIMIT 1"
        assert copy.execute(head).fetchall() == agents.collector.query(head)
        statuses = dict(copy.execute("SELECT id, status FROM agent_runs").fetchall())
    assert statuses == {sent[0]: "completed", sent[1]: "failed", sent[2]: "completed"}

    checked = verify(target, chain_key(agents))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK")

    served = start_test_collector(target, chain_key_path=chain_key(agents))
    try:
        run = httpx.get(f"{served.api_url}/agent/runs/{sent[1]}", timeout=10).json()
        assert run["status"] == "failed" and run["error"] == "disk full"
        assert [s["tool_name"] for s in run["steps"]] == ["df"]
    finally:
        served.stop()


def test_an_existing_file_is_kept_unless_forced(agents: Agents, tmp_path: Path) -> None:
    target = tmp_path / "keep.duckdb"
    target.write_bytes(b"precious")
    refused = cli(agents.collector.api_url, "backup", str(target))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"agent-audit: {target} exists")
    assert target.read_bytes() == b"precious"
    forced = cli(agents.collector.api_url, "backup", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    with duckdb.connect(str(target), read_only=True) as copy:
        assert copy.execute("SELECT count(*) FROM schema_version").fetchall()[0][0] > 0


def test_a_backup_taken_during_ingest_is_one_consistent_moment(
    agents: Agents, tmp_path: Path
) -> None:
    stop = threading.Event()
    sent: list[str] = []

    def keep_sending() -> None:
        while not stop.is_set() and len(sent) < 400:
            sent.append(agents.run(SPECS[len(sent) % len(SPECS)]))

    sender = threading.Thread(target=keep_sending, name="backup-test-sender")
    sender.start()
    try:
        wait_until(
            lambda: agents.collector.query("SELECT count(*) FROM agent_runs")[0][0] >= 20,
            timeout_s=30,
            what="runs arriving",
        )
        response = httpx.get(f"{agents.collector.api_url}/backup", timeout=60)
    finally:
        stop.set()
        sender.join(30)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].endswith('.duckdb"')
    target = tmp_path / "during.duckdb"
    target.write_bytes(response.content)
    # Saved with its head, as `agent-audit backup` does: verify fails a file without one.
    mark_path(target).write_text(response.headers[HEAD_HEADER] + "\n")

    # The chain and the runs derived from it come from the same instant: verify
    # replays every chained span and finds the copied runs and steps match.
    checked = verify(target, chain_key(agents))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with duckdb.connect(str(target), read_only=True) as copy:
        copied = counts(copy)
        copied_ids = {row[0] for row in copy.execute("SELECT id FROM agent_runs").fetchall()}
    assert copied["agent_runs"] >= 20
    agents.flush_and_wait(sent)
    live_ids = {row[0] for row in agents.collector.query("SELECT id FROM agent_runs")}
    assert copied_ids <= live_ids


def test_backup_and_export_report_progress_on_stderr_when_asked(
    agents: Agents, tmp_path: Path
) -> None:
    agents.send(SPECS[:1])
    target = tmp_path / "progress.duckdb"
    quiet = cli(agents.collector.api_url, "backup", str(target))
    assert quiet.returncode == 0 and quiet.stderr == ""  # stderr is a pipe: no progress
    shown = cli(agents.collector.api_url, "backup", str(target), "--force", "--progress")
    assert shown.returncode == 0, shown.stderr
    last = shown.stderr.splitlines()[-1]
    assert last.startswith("backup: ") and last.endswith(", done"), shown.stderr
    assert "received" in last and "\x1b" not in shown.stderr
    exported = cli(agents.collector.api_url, "export", str(tmp_path / "out"), "--progress")
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.splitlines()[-1].startswith("export: "), exported.stderr


def test_verify_asks_the_collector_named_by_agent_audit_api(agents: Agents, tmp_path: Path) -> None:
    agents.send(SPECS[:1])
    env = {**ENV, "AGENT_AUDIT_API": agents.collector.api_url}
    ran = subprocess.run(
        [sys.executable, "-m", "collector.cli", "verify", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    # cwd holds no database: the answer can only come from the running collector.
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["ok"] is True
    down = unreachable_url()
    refused = subprocess.run(
        [sys.executable, "-m", "collector.cli", "verify"],
        capture_output=True, text=True, env={**ENV, "AGENT_AUDIT_API": down}, cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and down.removeprefix("http://") in refused.stderr
