"""``/sql`` with its copy folder (``AGENT_AUDIT_SQL_COPY_DIR``) on a full disk: a clear,
retryable answer naming the folder and the disk's error; queries work again once space
returns, without a restart, and ingest is never affected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench.reliability.harness import CollectorProcess, HttpSender, build_run_request
from tests.reliability.disk_faults import fill_file_system, small_tmpfs
from tests.support import wait_until

_COUNT = {"sql": "SELECT count(*) AS n FROM agent_runs"}


def _sql(collector: CollectorProcess) -> httpx.Response:
    return httpx.post(f"{collector.api_url}/sql", json=_COUNT, timeout=60)


def _rows(answer: httpx.Response) -> list[Any]:
    rows: list[Any] = answer.json()["rows"]
    return rows


def test_a_full_copy_folder_is_a_clear_retryable_answer_until_space_returns(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "sql-mnt", 16) as mnt:
        copies = mnt / "sql"
        collector = CollectorProcess(
            tmp_path / "audit.duckdb",
            log_dir=tmp_path / "logs",
            env={"AGENT_AUDIT_SQL_COPY_DIR": str(copies)},
        ).start()
        sender = HttpSender(collector.http_endpoint)
        try:
            for seq in range(5):
                assert sender.send(build_run_request(41, seq, 3).protobuf()).acked
            filler = fill_file_system(mnt)

            def refused_for_the_disk() -> httpx.Response | None:
                answer = _sql(collector)
                assert answer.status_code in (200, 503), answer.text
                full = answer.status_code == 503 and "No space left" in answer.text
                return answer if full else None

            # The first answers may be "being built, retry shortly"; then the reason.
            answer = wait_until(
                refused_for_the_disk, timeout_s=60, interval_s=0.5, what="503, disk full"
            )
            detail = answer.json()["detail"]
            assert str(copies) in detail and "could not be written" in detail, detail
            assert answer.headers["retry-after"]
            # Ingest does not depend on the copy.
            for seq in range(5, 8):
                assert sender.send(build_run_request(41, seq, 3).protobuf()).acked

            filler.unlink()
            answer = wait_until(
                lambda: (a := _sql(collector)).status_code == 200 and a,
                timeout_s=60,
                interval_s=0.5,
                what="/sql to answer once space is back",
            )
            assert _rows(answer) == [[8]], answer.text
            assert collector.terminate() == 0
        finally:
            sender.close()
            collector.kill()
