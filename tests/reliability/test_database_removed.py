"""The database file removed or moved away under a running collector: acknowledged
spans stay in the request journal, never committed into a file that is gone.

Found from outside: DuckDB keeps writing to the file it opened. Once that file
was deleted, the collector went on committing into it, freed the requests'
journal entries, answered ``/healthz`` "ok", and exited 0; every span
acknowledged after the deletion vanished with the file. Now the writer checks
before and after each commit that the path still names the file it has open
(collector/writer_connection.py); when it does not, requests wait in the
journal, ``/healthz`` says why, and the file is opened again once it is back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from bench.reliability.chaos import check_file
from bench.reliability.harness import CollectorProcess, HttpSender, build_run_request
from tests.support import wait_until


def _health(collector: CollectorProcess) -> dict[str, Any]:
    health: dict[str, Any] = httpx.get(f"{collector.api_url}/healthz", timeout=30).json()
    return health


def _writer_says(collector: CollectorProcess, words: str) -> bool:
    health = _health(collector)
    return health["status"] == "degraded" and words in health["writer"].get("last_error", "")


def test_a_file_moved_away_and_back_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "moved.duckdb"
    aside = tmp_path / "aside.duckdb"
    collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    sender = HttpSender(collector.http_endpoint)
    before, during = (build_run_request(9, seq, 3, payload_bytes=300) for seq in (1, 2))
    try:
        assert sender.send(before.protobuf()).acked
        wait_until(lambda: _health(collector)["queued_spans"] == 0, what="the first run applied")
        os.rename(db, aside)
        assert sender.send(during.protobuf()).acked  # in the journal: durable
        wait_until(
            lambda: (
                _writer_says(collector, "removed or replaced")
                or _writer_says(collector, "is missing")
            ),
            timeout_s=30,
            what="/healthz to say the database file is gone",
        )
        assert _health(collector)["queued_spans"] == len(during.span_keys)
        os.rename(aside, db)
        wait_until(
            lambda: (h := _health(collector))["status"] == "ok" and h["queued_spans"] == 0,
            timeout_s=30,
            what="the file opened again and the waiting run applied",
        )
        assert _health(collector)["writer"]["reopens"] >= 1
        assert collector.terminate() == 0
    finally:
        sender.close()
        collector.kill()
    sent = {r.trace_id: r for r in (before, during)}
    assert check_file(db, sent, sent) == []


def test_spans_acknowledged_after_the_file_was_deleted_wait_in_the_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "deleted.duckdb"
    collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    sender = HttpSender(collector.http_endpoint)
    first = build_run_request(10, 1, 2, payload_bytes=300)
    after = [build_run_request(10, seq, 3, payload_bytes=300) for seq in (2, 3)]
    try:
        assert sender.send(first.protobuf()).acked
        wait_until(lambda: _health(collector)["queued_spans"] == 0, what="the first run applied")
        db.unlink()
        for request in after:
            assert sender.send(request.protobuf()).acked
        wait_until(
            lambda: _writer_says(collector, "is missing"),
            timeout_s=30,
            what="/healthz to say the database file is missing",
        )
        # Stopped while the file is gone: what waits stays in the journal, and the
        # exit says something went wrong.
        assert collector.terminate() != 0
    finally:
        sender.close()
        collector.kill()
    assert not db.exists()
    # The head (<db>.head) still records the deleted file's commits: a start is refused
    # until a person restores the file or starts a new trail.
    refused = CollectorProcess(db, log_dir=tmp_path / "logs", name="refused")
    assert refused.run_to_exit() == 2
    assert "is missing" in refused.stderr_text()
    # A new trail: the journal's requests are applied to the new file, none lost.
    Path(f"{db}.head").unlink()
    restarted = CollectorProcess(db, log_dir=tmp_path / "logs", name="restarted").start()
    assert restarted.terminate() == 0
    waiting = {r.trace_id: r for r in after}
    # The first run, committed to the deleted file, may come again too: the journal keeps
    # committed entries until its open segment holds enough of them to be emptied.
    assert check_file(db, {first.trace_id: first, **waiting}, waiting) == []
