"""Each column of spans / agent_runs / agent_steps is declared in exactly one place.

collector/columns.py declares them; the DDL and the Arrow schemas are derived.
A second declaration (an Arrow field list or DDL naming a table's columns)
anywhere in the packages fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from collector.columns import AGENT_RUNS, AGENT_STEPS, SPANS, Column
from collector.schema import migrate

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("collector", "instrumentation", "agent", "ssh_tools", "dashboard")
TABLES: dict[str, tuple[Column, ...]] = {
    "spans": SPANS,
    "agent_runs": AGENT_RUNS,
    "agent_steps": AGENT_STEPS,
}
_SQL_TYPES = "VARCHAR|JSON|INTEGER|BIGINT|DOUBLE|BOOLEAN|TIMESTAMP|BLOB"
# ("name", pa.string()) or `name VARCHAR` at the start of a line (DDL).
_ARROW_FIELD = re.compile(r"""\(\s*["'](\w+)["']\s*,\s*pa\.""")
_DDL_LINE = re.compile(rf"^\s*(\w+)\s+(?:{_SQL_TYPES})\b", re.MULTILINE)
_COLUMN_CALL = re.compile(r"""\bColumn\(\s*["'](\w+)["']""")
# Tables that share a few column names (span_chain: trace_id, span_id) stay below this.
_REDECLARATION = 4


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_each_column_is_declared_once_in_columns_module() -> None:
    calls: dict[str, int] = {}
    for path in _sources():
        for name in _COLUMN_CALL.findall(path.read_text()):
            calls[name] = calls.get(name, 0) + 1
    for table, columns in TABLES.items():
        names = [c.name for c in columns]
        assert len(names) == len(set(names)), f"{table} declares a column twice"
    # Per table once: the count over all files equals the number of tables holding it.
    expected: dict[str, int] = {}
    for columns in TABLES.values():
        for c in columns:
            expected[c.name] = expected.get(c.name, 0) + 1
    assert calls == expected


def test_no_other_arrow_schema_or_ddl_lists_a_tables_columns() -> None:
    offenders = []
    for path in _sources():
        text = path.read_text()
        declared = set(_ARROW_FIELD.findall(text)) | set(_DDL_LINE.findall(text))
        for table, columns in TABLES.items():
            found = declared & {c.name for c in columns}
            if len(found) >= _REDECLARATION:
                offenders.append(f"{path.relative_to(ROOT)} re-declares {table}: {sorted(found)}")
    assert offenders == []


def test_derived_ddl_creates_the_declared_columns_in_order(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    for table, columns in TABLES.items():
        rows = con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        assert [(r[0], r[1], r[2] == "YES") for r in rows] == [
            (c.name, c.sql_type, c.nullable and "PRIMARY KEY" not in c.constraint) for c in columns
        ]


def test_api_models_are_derived_from_the_declarations() -> None:
    from collector.api_models import Run, Step

    live = {"step_count", "elapsed_ms", "cancel_requested_at", "cancel_requested_by"}
    live |= {"tool_calls", "llm_calls"}  # counted for run lists (collector/page_costs.py)
    assert set(Run.model_fields) == {c.name for c in AGENT_RUNS} | live
    assert list(Step.model_fields) == [c.name for c in AGENT_STEPS]


def test_no_literal_list_names_a_tables_columns() -> None:
    # Most of a table's columns spelled out again drift from the declarations: such
    # lists are derived with collector.columns.names(). A chosen few (a subset with a
    # purpose of its own, such as the columns one statement updates) stay literal.
    import ast

    offenders = []
    for path in _sources():
        if path.name == "columns.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Tuple | ast.List | ast.Set):
                continue
            strings = {
                e.value
                for e in node.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
            for table, columns in TABLES.items():
                found = strings & {c.name for c in columns}
                if len(found) > len(columns) // 2:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    offenders.append(f"{where} lists {table} columns: {sorted(found)}")
    assert offenders == []


# The decoded OTLP span: its fields are what the spans columns are read from
# (collector/arrow_rows.py), with structures as Python values rather than JSON text.
_CLASSES_THAT_MAY_LIST_COLUMNS = {"collector/decode.py:SpanRecord"}


def test_no_class_lists_a_tables_columns_as_fields() -> None:
    # A dataclass (or model) annotating most of a table's columns declares them again;
    # row objects are derived from the declarations (collector/mapping.py).
    import ast

    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            where = f"{path.relative_to(ROOT)}:{node.name}"
            fields = {
                statement.target.id
                for statement in node.body
                if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
            }
            for table, columns in TABLES.items():
                found = fields & {c.name for c in columns}
                if len(found) > len(columns) // 2 and where not in _CLASSES_THAT_MAY_LIST_COLUMNS:
                    offenders.append(f"{where} lists {table} columns: {sorted(found)}")
    assert offenders == []


def test_row_objects_are_derived_from_the_declarations() -> None:
    from dataclasses import fields

    from collector.mapping import RunRow, StepRow

    # The writer fills updated_at for the whole batch; end_ns picks between two rows.
    runs = [c.name for c in AGENT_RUNS if c.ingested and c.name != "updated_at"]
    steps = [c.name for c in AGENT_STEPS if c.ingested]
    assert [f.name for f in fields(RunRow)] == [*runs, "end_ns"]
    assert [f.name for f in fields(StepRow)] == [*steps, "end_ns"]
    assert not hasattr(RunRow(**dict.fromkeys(runs)), "__dict__")  # slots: no per-row dict
