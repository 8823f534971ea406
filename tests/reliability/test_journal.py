"""The request journal: acknowledged before DuckDB has it, still never lost, never a secret.

A real collector process whose writer is held busy (tests/reliability/held_writer_collector.py)
acknowledges from the journal alone; it is then SIGKILLed and a plain collector
restarted on the same files must show every acknowledged run through its API.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import httpx

from bench.reliability.chaos import check_file
from bench.reliability.harness import (
    CollectorProcess,
    GrpcSender,
    HttpSender,
    RunRequest,
    build_run_request,
)
from collector.journal import journal_dir
from collector.journal_replay import journaled_spans
from tests.reliability.test_secrets import SECRETS, _canary_request


def _held_collector(db: Path, log_dir: Path) -> CollectorProcess:
    process = CollectorProcess(db, log_dir=log_dir, name="held")
    process._args = [
        sys.executable,
        "-m",
        "tests.reliability.held_writer_collector",
        "--db",
        str(db),
    ]
    return process.start()


def _stored_span_keys(db: Path) -> set[tuple[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {(r[0], r[1]) for r in con.execute("SELECT trace_id, span_id FROM spans").fetchall()}


def test_kill_9_after_ack_loses_nothing_the_journal_held(tmp_path: Path) -> None:
    db = tmp_path / "journal.duckdb"
    held = _held_collector(db, tmp_path / "logs")
    requests: list[RunRequest] = []
    try:
        grpc_sender = GrpcSender(held.grpc_target)
        http_sender = HttpSender(held.http_endpoint)
        try:
            for seq in range(1, 31):
                request = build_run_request(7, seq, 1 + seq % 5, payload_bytes=500)
                if seq % 3 == 0:
                    outcome = http_sender.send(request.json(), content_type="application/json")
                elif seq % 3 == 1:
                    outcome = http_sender.send(request.protobuf())
                else:
                    outcome = grpc_sender.send(request.protobuf())
                assert outcome.acked, outcome.detail
                requests.append(request)
        finally:
            grpc_sender.close()
            http_sender.close()
        acked_keys = {key for r in requests for key in r.span_keys}
        # Every acknowledged span is on disk in the journal while the writer is held.
        journaled = {(s.trace_id, s.span_id) for s in journaled_spans(journal_dir(db))}
        assert acked_keys <= journaled
    finally:
        held.kill()  # SIGKILL
    # Nothing reached DuckDB: the journal alone carried the acknowledgements.
    assert _stored_span_keys(db) & acked_keys == set()
    attempted = acked = {r.trace_id: r for r in requests}
    assert check_file(db, attempted, acked) == []

    collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    try:
        with httpx.Client(base_url=collector.api_url, timeout=30) as api:
            for request in requests:
                response = api.get(f"/agent/runs/{request.run_id}")
                assert response.status_code == 200, response.text
                run = response.json()
                assert run["status"] == "completed"
                assert run["total_steps"] == len(request.step_span_ids)
        assert collector.terminate() == 0
    finally:
        collector.kill()
    assert acked_keys <= _stored_span_keys(db)
    assert check_file(db, attempted, acked) == []
    # Applied and committed: the journal holds nothing any more.
    assert journaled_spans(journal_dir(db)) == []
    assert [p for p in journal_dir(db).glob("*.log") if p.stat().st_size] == []


def test_the_journal_holds_no_planted_secret(tmp_path: Path) -> None:
    db = tmp_path / "canary.duckdb"
    held = _held_collector(db, tmp_path / "logs")
    try:
        request, body = _canary_request()
        sender = HttpSender(held.http_endpoint)
        try:
            assert sender.send(body).acked
        finally:
            sender.close()
        run_id = request.run_id  # type: ignore[attr-defined]
        journal_bytes = b"".join(p.read_bytes() for p in sorted(journal_dir(db).glob("*.log")))
        # The control: the acknowledged request is in the journal, redacted.
        assert run_id.encode() in journal_bytes
        assert b"[REDACTED" in journal_bytes
        files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    finally:
        held.kill()
    # Each key of SECRETS is a distinctive piece of its secret (as test_secrets searches).
    leaks = [
        f"{needle} in {path.relative_to(tmp_path)}"
        for path, data in files.items()
        for needle in SECRETS
        if needle.encode() in data
    ]
    assert leaks == []
