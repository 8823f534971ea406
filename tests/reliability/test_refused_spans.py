"""An acknowledged request DuckDB refuses costs only the spans it refuses.

Requests are acknowledged once journaled, before DuckDB sees them. Should a
span's data be refused at commit (a value no check foresaw), the writer
commits the request in halves until only the refused spans are left: the rest
are stored, the refused ones kept in the journal's ``rejected-*.json`` for a
person. The stand-in for "a value DuckDB refuses" is a CHECK constraint added
to the test's own file: a real refusal by DuckDB, of one span's data.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.journal_codec import decode_spans
from tests.conftest import start_test_collector
from tests.support import wait_until

POISON = "refused-by-duckdb"


def _refuse_spans_named(db: Path, name: str) -> None:
    """Recreate the (still empty) spans table with a CHECK that refuses ``name``."""
    with duckdb.connect(str(db)) as con:
        (ddl,) = con.execute(
            "SELECT sql FROM duckdb_tables() WHERE table_name = 'spans'"
        ).fetchone()
        assert con.execute("SELECT count(*) FROM spans").fetchone() == (0,)
        body = ddl.rstrip().rstrip(";")
        assert body.endswith(")")
        checked = body[:-1] + f", CHECK (name <> '{name}'))"
        con.execute("DROP TABLE spans")
        con.execute(checked)


def _request(names: list[str]) -> tuple[bytes, str]:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    trace_id, root = os.urandom(16), os.urandom(8)
    now = time.time_ns()
    for index, name in enumerate(names):
        span = spans.add(
            trace_id=trace_id,
            span_id=root if index == 0 else os.urandom(8),
            name=name,
            start_time_unix_nano=now + index,
            end_time_unix_nano=now + 1_000_000,
        )
        if index:
            span.parent_span_id = root
        span.attributes.add(key="gen_ai.operation.name").value.string_value = (
            "invoke_agent" if index == 0 else "execute_tool"
        )
    return request.SerializeToString(), trace_id.hex()


def test_only_the_refused_span_is_left_out(tmp_path: Path) -> None:
    db = tmp_path / "refuse.duckdb"
    start_test_collector(db).stop()  # the schema, then the refusing table
    _refuse_spans_named(db, POISON)
    handle = start_test_collector(db)
    try:
        names = ["invoke_agent bisect"] + [f"execute_tool t{i}" for i in range(1, 40)]
        names[23] = POISON
        body, trace_id = _request(names)
        response = httpx.post(
            handle.http_endpoint + "/v1/traces",
            content=body,
            headers={"content-type": "application/x-protobuf"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        journal = db.with_name(db.name + ".journal")
        wait_until(lambda: list(journal.glob("rejected-*.json")), timeout_s=60, what="a kept file")
        stored = handle.query("SELECT name FROM spans WHERE trace_id = ?", [trace_id])
        assert sorted(n for (n,) in stored) == sorted(n for n in names if n != POISON)
        steps = handle.query("SELECT count(*) FROM agent_steps WHERE trace_id = ?", [trace_id])
        assert steps == [(38,)]
        (kept,) = journal.glob("rejected-*.json")
        assert [s.name for s in decode_spans(kept.read_bytes())] == [POISON]
    finally:
        handle.stop()
