"""A journal left by another version of the collector: replay stores what it can
read, keeps what it cannot for a person, and the collector starts and serves.

Entries a newer collector wrote (an unknown codec, span rows with fields added
after the known ones) and an older one (rows with fewer fields) lie between
ordinary entries in one segment. Every ordinary entry's spans are stored; no
entry whose spans cannot be read in full is applied in part; each such entry is
kept in a ``rejected-*.json`` file byte for byte; the journal's segments are
gone afterwards and the collector takes new spans.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from collector.decode import decode_protobuf
from collector.journal import Journal, journal_dir, read_entries
from collector.journal_codec import encode_spans
from tests.conftest import start_test_collector
from tests.security.test_otlp_partial_success import send


def _request(trace: bytes, spans: int) -> ExportTraceServiceRequest:
    start = time.time_ns()
    run = Span(
        trace_id=trace,
        span_id=os.urandom(8),
        name="invoke_agent ops",
        start_time_unix_nano=start,
        end_time_unix_nano=start + 10_000,
        attributes=[kv("gen_ai.operation.name", "invoke_agent")],
    )
    steps = [
        Span(
            trace_id=trace,
            span_id=os.urandom(8),
            parent_span_id=run.span_id,
            name="chat m",
            start_time_unix_nano=start + i,
            end_time_unix_nano=start + i + 1,
            attributes=[kv("gen_ai.operation.name", "chat")],
        )
        for i in range(spans - 1)
    ]
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend([run, *steps])
    return request


def _payload(trace: bytes) -> bytes:
    return encode_spans(decode_protobuf(_request(trace, 3).SerializeToString()).spans)


def _rows_changed(payload: bytes, change: str) -> bytes:
    rows = orjson.loads(payload[1:])
    if change == "newer":
        rows = [[*row, {"a field": "from a newer collector"}] for row in rows]
    else:
        rows = [row[:-1] for row in rows]
    return b"o" + orjson.dumps(rows)


def test_entries_of_other_versions_are_kept_whole_and_the_rest_stored(tmp_path: Path) -> None:
    db = tmp_path / "formats.duckdb"
    directory = journal_dir(db)
    good = [os.urandom(16) for _ in range(3)]
    odd = {
        "unknown codec": b"z" + _payload(os.urandom(16))[1:],
        "newer rows": _rows_changed(_payload(os.urandom(16)), "newer"),
        "older rows": _rows_changed(_payload(os.urandom(16)), "older"),
        "not a list": b"o" + json.dumps({"spans": []}).encode(),
    }
    journal = Journal(directory)
    for payload in (_payload(good[0]), *odd.values(), _payload(good[1]), _payload(good[2])):
        journal.sync(journal.append(payload))
    journal.close()

    handle = start_test_collector(db)
    try:
        stored = {
            trace: count
            for trace, count in handle.query("SELECT trace_id, count(*) FROM spans GROUP BY 1")
        }
        assert stored == {trace.hex(): 3 for trace in good}
        runs = handle.query("SELECT total_steps FROM agent_runs ORDER BY trace_id")
        assert runs == [(2,)] * 3
        kept = sorted(p.read_bytes() for p in directory.glob("rejected-*.json"))
        assert kept == sorted(odd.values())
        assert list(read_entries(directory)) == []  # replayed, then the segments went
        # The collector serves after such a start.
        later = os.urandom(16)
        assert send(handle, "grpc", _request(later, 2)) == (0, "")
        assert handle.query("SELECT count(*) FROM spans WHERE trace_id = ?", [later.hex()]) == [
            (2,)
        ]
    finally:
        handle.stop()
