"""The CLI commands as subprocesses against a real collector: runs, show, sql, export, backup."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.collector.api.conftest import Agents, RunSpec, ToolCall

REPO = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
ENV.pop("AGENT_AUDIT_API", None)

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u202eevil\x9b6n"

SPECS = [
    RunSpec(
        f"restart homepage {HOSTILE}",
        source="n8n",
        tools=(ToolCall("docker_ps", {"all": True}, result=f"web-1 Exited\n{HOSTILE}"),),
        final_answer="restarted",
    ),
    RunSpec(
        "check disk space",
        status="failed",
        error="disk full",
        tools=(ToolCall("df", {"path": "/"}, error="permission denied"),),
    ),
    RunSpec(
        "tail logs",
        tools=(ToolCall("docker_logs", result="\n".join(f"line {i}" for i in range(200))),),
    ),
]


def cli(api: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args, "--api", api],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        input=stdin,
        timeout=60,
    )


def assert_inert(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in text, f"{raw!r} reached the terminal"


@pytest.fixture(scope="module")
def sent(module_agents: Agents) -> list[str]:
    return module_agents.send(SPECS)


@pytest.fixture
def agents(module_agents: Agents, sent: list[str]) -> Agents:
    """The tests here only read the three runs sent once for the module."""
    return module_agents


def test_runs_table_filters_and_json(agents: Agents, sent: list[str]) -> None:
    api = agents.collector.api_url
    out = cli(api, "runs")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["STATUS", "RUN", "STARTED"]
    assert len(lines) == 4
    assert_inert(out.stdout)
    assert "\\x1b" in out.stdout  # shown, not obeyed
    for run_id in sent:
        assert run_id[:8] in out.stdout

    failed = cli(api, "runs", "--status", "failed", "--since", "today")
    assert failed.returncode == 0
    body = failed.stdout.splitlines()
    assert len(body) == 2 and "check disk space" in body[1] and "disk full" in body[1]
    assert body[1].startswith("failed")  # plain text badge when not a terminal

    parsed = json.loads(cli(api, "runs", "--source", "n8n", "--json").stdout)
    assert [r["id"] for r in parsed["runs"]] == [sent[0]]
    assert parsed["runs"][0]["task"] == SPECS[0].task  # JSON escapes, nothing lost

    stats = cli(api, "runs", "--stats")
    assert stats.returncode == 0
    assert "error rate  33.3%" in stats.stdout
    tools_table = stats.stdout.split("TOOL", 1)[1]
    assert "df" in tools_table and "100.0%" in tools_table

    empty = cli(api, "runs", "--tool", "never-called")
    assert empty.returncode == 0 and "no runs match" in empty.stdout


def test_show_by_prefix_folded_and_inert(agents: Agents, sent: list[str]) -> None:
    api = agents.collector.api_url
    shown = cli(api, "show", sent[0][:8])
    assert shown.returncode == 0, shown.stderr
    assert f"Run {sent[0]}" in shown.stdout
    assert 'docker_ps({"all": true})' in shown.stdout
    assert "web-1 Exited" in shown.stdout
    assert "Final answer: restarted" in shown.stdout
    assert_inert(shown.stdout)

    failed = cli(api, "show", sent[1])
    assert "failed" in failed.stdout.splitlines()[0]
    assert "permission denied" in failed.stdout and "ERROR" in failed.stdout

    folded = cli(api, "show", sent[2])
    assert "line 11" in folded.stdout and "line 12\n" not in folded.stdout
    assert "--full shows everything" in folded.stdout
    full = cli(api, "show", sent[2], "--full")
    assert "line 199" in full.stdout

    missing = cli(api, "show", "nonexistent-run")
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == "agent-audit: no run 'nonexistent-run' (agent-audit runs lists them)"
    )

    as_json = json.loads(cli(api, "show", sent[1], "--json").stdout)
    assert as_json["id"] == sent[1] and len(as_json["steps"]) == 1


def test_sql_formats_refusal_and_stdin(agents: Agents, sent: list[str]) -> None:
    api = agents.collector.api_url
    query = "SELECT tool_name, status FROM agent_steps WHERE tool_name IS NOT NULL ORDER BY 1"
    table = cli(api, "sql", query)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["tool_name", "status"]
    assert "(3 rows," in table.stdout

    csv_out = cli(api, "sql", query, "--format", "csv")
    assert csv_out.stdout.splitlines() == [
        "tool_name,status", "df,error", "docker_logs,ok", "docker_ps,ok"
    ]  # fmt: skip
    records = json.loads(cli(api, "sql", query, "--format", "json").stdout)
    assert records[0] == {"tool_name": "df", "status": "error"}

    hostile = cli(api, "sql", "SELECT tool_result FROM agent_steps WHERE tool_name = 'docker_ps'")
    assert_inert(hostile.stdout)
    hostile_csv = cli(
        api, "sql", "SELECT task FROM agent_runs WHERE source = 'n8n'", "--format", "csv"
    )
    assert_inert(hostile_csv.stdout)

    piped = cli(api, "sql", "-", stdin="SELECT 40 + 2 AS answer")
    assert piped.stdout.splitlines()[:2] == ["answer", "42"]

    refused = cli(api, "sql", "DROP TABLE agent_runs")
    assert refused.returncode == 1
    assert refused.stderr.startswith("agent-audit: DROP statements are not allowed")
    assert agents.collector.query("SELECT count(*) FROM agent_runs") == [(3,)]

    capped = cli(api, "sql", "SELECT * FROM range(20)", "--max-rows", "5", "--format", "csv")
    assert len(capped.stdout.splitlines()) == 6
    assert "truncated at 5 rows" in capped.stderr


def test_export_writes_a_consistent_parquet_snapshot(
    agents: Agents, sent: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "export"
    out = cli(agents.collector.api_url, "export", "--format", "parquet", str(target))
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in target.iterdir())
    assert names == [
        "cancel_requests.parquet", "manifest.json", "runs.parquet", "spans.parquet",
        "steps.parquet",
    ]  # fmt: skip
    manifest = json.loads((target / "manifest.json").read_text())
    runs = pq.read_table(target / "runs.parquet")
    steps = pq.read_table(target / "steps.parquet")
    spans = pq.read_table(target / "spans.parquet")
    assert sorted(runs.column("id").to_pylist()) == sorted(sent)
    assert steps.num_rows == 3
    db_spans = agents.collector.query("SELECT count(*) FROM spans")[0][0]
    assert spans.num_rows == db_spans == manifest["tables"]["spans"]["rows"]
    assert str(runs.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert f"{spans.num_rows:>10} rows" in out.stdout
    # Steps reference runs of the same snapshot.
    assert set(steps.column("agent_run_id").to_pylist()) <= set(runs.column("id").to_pylist())


def test_unreachable_api_is_one_line_and_exit_2() -> None:
    # The port stays bound (never listening) for the whole test: a port only found free
    # could be taken meanwhile by another test's collector, which would then answer.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{held.getsockname()[1]}"
        commands = (
            ["runs"],
            ["show", "abc"],
            ["sql", "SELECT 1"],
            ["export", "/tmp/x-unused"],
            ["backup", "/tmp/agent-audit-unused-backup.duckdb"],
        )
        for args in commands:
            out = cli(api, *args)
            assert out.returncode == 2, (args, out)
            assert out.stderr.count("\n") == 1, out.stderr
            assert out.stderr.startswith(f"agent-audit: cannot reach the agent-audit API at {api}")
            assert "Traceback" not in out.stderr
