"""The /sql folder stays bounded: stale copies and dead workers' folders go, nothing else.

Each test fails on the layout that kept one ``$TMPDIR/agent-audit-sql-<hash>``
per store forever and a ``TemporaryDirectory`` per worker that SIGKILL left.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.settings import Settings, SettingsError
from collector.sql_workspace import MARKER, SqlWorkspace, WorkspaceError
from collector.store import RunStore
from tests import sql_client
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import REPO, wait_until


def post_sql(handle: CollectorHandle, query: str) -> httpx.Response:
    return sql_client.post_sql(handle.api_url, query)


def _sandbox(handle: CollectorHandle) -> Any:
    return handle.running.http_server.config.app.state.sql_sandbox


def one_span(name: str) -> Any:
    return record_spans(lambda tracer: tracer.start_span(name).end())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "sql-folder"


def _store(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name / "audit.duckdb"
    path.parent.mkdir()
    RunStore(path, startup_read_check=False).close()
    return path


def _with_copy(path: Path, root: Path) -> Path:
    """Run a collector on ``path`` until its /sql copy is built; the copy's folder."""
    handle = start_test_collector(path, sql_copy_dir=root)
    try:
        export("http-protobuf", handle, one_span("kept"))
        assert post_sql(handle, "SELECT count(*) FROM spans").json()["rows"] == [[1]]
    finally:
        handle.stop()
    folder = SqlWorkspace(root, keep_s=0).copy_path(path)
    assert (folder / "replica.duckdb").is_file() and (folder / MARKER).is_file()
    return folder


@pytest.fixture
def running(tmp_path: Path, root: Path) -> Iterator[Any]:
    """Start collectors on stores of their own sharing ``root``; all stopped at the end."""
    handles: list[CollectorHandle] = []

    def start(name: str, **overrides: Any) -> CollectorHandle:
        handle = start_test_collector(_store(tmp_path, name), sql_copy_dir=root, **overrides)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


def test_the_copy_of_a_deleted_store_is_removed_at_the_next_start(
    tmp_path: Path, root: Path, running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gone = _store(tmp_path, "gone")
    folder = _with_copy(gone, root)
    on_disk = (folder / "replica.duckdb").stat().st_blocks * 512
    gone.unlink()
    with caplog.at_level(logging.INFO, logger="collector.sql_workspace"):
        other = running("other")
    assert not folder.exists()
    swept = _sandbox(other).swept
    assert swept.folders == 1 and swept.bytes_freed >= on_disk
    assert f"removed 1 stale /sql folder(s) from {root}" in caplog.text
    # Only the new collector's own copy is left.
    assert sorted(p.name for p in root.iterdir()) == [
        SqlWorkspace(root, keep_s=0).copy_path(other.db_path).name
    ]


def test_the_copy_of_a_live_store_is_kept_and_taken_over(
    tmp_path: Path, root: Path, running: Any
) -> None:
    live = _store(tmp_path, "live")
    folder = _with_copy(live, root)
    assert _sandbox(running("other")).swept.folders == 0
    assert (folder / "replica.duckdb").is_file()
    handle = start_test_collector(live, sql_copy_dir=root)
    try:
        export("http-protobuf", handle, one_span("since"))
        assert post_sql(handle, "SELECT count(*) FROM spans").json()["rows"] == [[2]]
        sandbox = _sandbox(handle)
        assert sandbox.resumed == 1 and sandbox.last_refresh["spans"] == 1
    finally:
        handle.stop()


def test_a_copy_unused_past_the_age_is_removed_but_never_one_in_use(
    tmp_path: Path, root: Path, running: Any
) -> None:
    idle = _with_copy(_store(tmp_path, "idle"), root)
    in_use = running("in-use")
    assert post_sql(in_use, "SELECT 1").json()["rows"] == [[1]]
    held = SqlWorkspace(root, keep_s=0).copy_path(in_use.db_path)
    # Keep nothing unused: the idle copy goes, the running collector's stays.
    assert _sandbox(running("sweeper", sql_copy_keep_days=0.0)).swept.folders == 1
    assert not idle.exists()
    assert (held / "replica.duckdb").is_file()
    export("http-protobuf", in_use, one_span("after the sweep"))
    assert post_sql(in_use, "SELECT name FROM spans").json()["rows"] == [["after the sweep"]]


def test_a_worker_killed_with_sigkill_leaves_no_folder(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store without a file: its worker has a folder of its own.
    monkeypatch.chdir(tmp_path)
    handle = start_test_collector(Path(":memory:"), sql_copy_dir=root)
    try:
        assert post_sql(handle, "SELECT 1").json()["rows"] == [[1]]
        sandbox = _sandbox(handle)
        first_pid = sandbox.worker_pid
        (first,) = root.glob("worker-*")
        assert (first / "replica.duckdb").is_file()
        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: sandbox._worker.process.poll() is not None, what="the worker to die")
        # The next query finds the worker dead, reaps it, and starts another.
        assert post_sql(handle, "SELECT 2").json()["rows"] == [[2]]
        assert sandbox.worker_pid != first_pid
        assert not first.exists()
        assert len(list(root.glob("worker-*"))) == 1
    finally:
        handle.stop()
    assert list(root.glob("worker-*")) == []


def test_the_folder_of_a_dead_collector_goes_and_a_live_ones_stays(
    root: Path, running: Any
) -> None:
    workspace = SqlWorkspace(root, keep_s=0)
    workspace.prepare()
    # A collector killed with SIGKILL after making a worker's folder.
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from collector.sql_workspace import SqlWorkspace\n"
        "folder = SqlWorkspace(Path(sys.argv[1]), keep_s=0).new_worker_folder()\n"
        "(folder.path / 'replica.duckdb').write_bytes(os.urandom(100_000))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    (dead,) = root.glob("worker-*")
    live = workspace.new_worker_folder()  # this process: alive, holding its lock
    try:
        swept = _sandbox(running("next")).swept
        assert swept.folders == 1 and swept.bytes_freed >= 100_000
        assert not dead.exists()
        assert live.path.is_dir()
    finally:
        live.remove()


def test_folders_without_the_marker_are_never_touched(
    tmp_path: Path, root: Path, running: Any
) -> None:
    root.mkdir(mode=0o700)
    unmarked = root / "copy-0123456789abcdef"
    unmarked.mkdir()
    (unmarked / "replica.duckdb").write_text("someone's")
    (root / "worker-1-unmarked").mkdir()
    (root / "notes.txt").write_text("not ours")
    # Marked as a stale copy, but reached only through a symlink: never followed.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / MARKER).write_text(json.dumps({"kind": "copy", "store": "/nonexistent"}))
    (outside / "data").write_text("keep")
    (root / "copy-fedcba9876543210").symlink_to(outside)
    # A marker that is itself a symlink to a stale one: not opened.
    linked = root / "copy-00000000000000aa"
    linked.mkdir()
    (linked / MARKER).symlink_to(outside / MARKER)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    swept = _sandbox(running("sweeper", sql_copy_keep_days=0.0)).swept
    assert swept.folders == 0
    after = {str(p) for p in tmp_path.rglob("*")}
    assert set(before) <= after
    assert (outside / "data").read_text() == "keep"


def test_a_folder_that_is_not_ours_stops_the_start_with_the_variable_named(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    path = _store(tmp_path, "refused")
    with pytest.raises(WorkspaceError, match="AGENT_AUDIT_SQL_COPY_DIR"):
        start_test_collector(path, sql_copy_dir=link)
    # The store was closed on the way out: it opens again.
    RunStore(path, startup_read_check=False).close()
    assert list(real.iterdir()) == []


def test_the_folder_and_the_age_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"AGENT_AUDIT_SQL_COPY_DIR": " /srv/sql ", "AGENT_AUDIT_SQL_COPY_KEEP_DAYS": "0.5"}
    )
    assert settings.sql_copy_dir == Path("/srv/sql") and settings.sql_copy_keep_days == 0.5
    assert Settings.from_env({}).sql_copy_dir is None
    with pytest.raises(SettingsError, match="AGENT_AUDIT_SQL_COPY_KEEP_DAYS"):
        Settings.from_env({"AGENT_AUDIT_SQL_COPY_KEEP_DAYS": "-1"})
    assert SqlWorkspace.default_root().name == f"agent-audit-sql.{os.geteuid()}"


def test_the_copy_an_earlier_version_kept_in_tmpdir_is_moved_in_and_taken_over(
    tmp_path: Path, root: Path
) -> None:
    path = _store(tmp_path, "upgraded")
    built = _with_copy(path, tmp_path / "built-by-this-version")
    # Where and how the earlier version kept it: $TMPDIR/agent-audit-sql-<hash>, no marker.
    earlier = Path(tempfile.gettempdir()) / built.name.replace("copy-", "agent-audit-sql-")
    (built / MARKER).unlink()
    built.rename(earlier)
    try:
        handle = start_test_collector(path, sql_copy_dir=root)
        try:
            assert not earlier.exists()
            assert (root / built.name / "replica.duckdb").is_file()
            assert post_sql(handle, "SELECT count(*) FROM spans").json()["rows"] == [[1]]
            assert _sandbox(handle).resumed == 1
        finally:
            handle.stop()
    finally:
        shutil.rmtree(earlier, ignore_errors=True)
