"""Checking a /sql query reads no file and reaches no network, in the collector's process.

Found from outside: ``IMPORT DATABASE 'DIR'`` (and ``PRAGMA import_database``)
is expanded by DuckDB while *parsing*: the guard's ``duckdb.extract_statements``
on the default connection read ``DIR/schema.sql`` and ``DIR/load.sql`` in the
collector itself, before any refusal. The answer told whether a directory
existed (``Cannot open file "/root/schema.sql"``) and quoted the first word of
the file that did not parse; a URL made DuckDB try to install httpfs from the
network. Parsing now runs on a database without file system access, and the
refusal names the statement, whatever the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.sql_guard import SqlRefused, check_read_only
from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql

SECRET = "hunter2-marker"

# Every spelling of the statement that makes DuckDB read while parsing.
FORMS = [
    "IMPORT DATABASE '{dir}'",
    "import database '{dir}'",
    "  IMPORT\n DATABASE '{dir}' ;",
    "/* c */ IMPORT DATABASE '{dir}'",
    "PRAGMA import_database('{dir}')",
    "pragma IMPORT_DATABASE('{dir}')",
]


@pytest.fixture
def planted(tmp_path: Path) -> dict[str, str]:
    """Directories an attacker names: one holding readable files, one missing, URLs."""
    full = tmp_path / "full"
    full.mkdir()
    (full / "schema.sql").write_text(f"{SECRET} is the first word;\n")
    (full / "load.sql").write_text(f"{SECRET} again;\n")
    valid = tmp_path / "valid"
    valid.mkdir()
    (valid / "schema.sql").write_text("SELECT 1;\n")
    (valid / "load.sql").write_text("")
    return {
        "files that do not parse": str(full),
        "files that parse": str(valid),
        "missing": str(tmp_path / "missing"),
        "s3 url": "s3://bucket/dump",
        "https url": "https://127.0.0.1:9/dump",
    }


def _refusal(query: str) -> str:
    with pytest.raises(SqlRefused) as refused:
        check_read_only(query)
    return refused.value.reason


@pytest.mark.parametrize("form", FORMS)
def test_import_is_refused_by_name_without_reading_the_directory(
    planted: dict[str, str], form: str
) -> None:
    answers = {what: _refusal(form.format(dir=where)) for what, where in planted.items()}
    keyword = form.split()[0] if not form.startswith("/*") else "IMPORT"
    # The same answer whatever the path holds: nothing was read, nothing to tell apart.
    assert len(set(answers.values())) == 1, answers
    (answer,) = set(answers.values())
    assert answer.startswith(f"{keyword.strip().upper()} statements are not allowed"), answer
    assert SECRET not in answer and "schema.sql" not in answer and "httpfs" not in answer


def test_a_query_that_starts_with_a_semicolon_is_refused_for_that() -> None:
    """``; SELECT 1`` parses as a SELECT; "SELECT statements are not allowed" was the answer."""
    answer = _refusal("  ;SELECT 1")
    assert answer.startswith("a query cannot start with ';'"), answer


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "unread.duckdb")
    try:
        yield collector
    finally:
        collector.stop()


def test_the_api_answers_import_alike_for_any_directory(
    handle: CollectorHandle, planted: dict[str, str]
) -> None:
    details = set()
    for where in planted.values():
        response = httpx.post(
            handle.api_url + "/sql", json={"sql": f"IMPORT DATABASE '{where}'"}, timeout=60
        )
        assert response.status_code == 400, response.text
        details.add(response.json()["detail"])
    assert len(details) == 1, details
    assert SECRET not in details.pop()
    assert post_sql(handle.api_url, "SELECT 1").json()["rows"] == [[1]]
