"""Folders of killed test runs are removed at session start, and only those: this user's,
of the prefix, of a process that is gone (tests/stale_copies.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.stale_copies import pid_alive, remove_stale_copies

PREFIX = "agent-audit-sql-tests"
NOBODY = 65534


def _dead_pids(count: int) -> list[int]:
    """Pids of ``count`` distinct processes that have exited."""
    pids: list[int] = []
    while len(pids) < count:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(timeout=60)
        if child.pid not in pids and not pid_alive(child.pid):
            pids.append(child.pid)
    return pids


def _folder(parent: Path, name: str) -> Path:
    folder = parent / name
    (folder / "copy").mkdir(parents=True)
    (folder / "copy" / "replica.duckdb").write_bytes(b"x" * 1024)
    return folder


def test_only_our_folders_of_gone_processes_are_removed(tmp_path: Path) -> None:
    dead, theirs_pid, linked_pid, file_pid = _dead_pids(4)
    stale = _folder(tmp_path, f"{PREFIX}.{dead}")
    running = _folder(tmp_path, f"{PREFIX}.{os.getpid()}")
    parent_run = _folder(tmp_path, f"{PREFIX}.{os.getppid()}")
    other_prefix = _folder(tmp_path, f"agent-audit-sql.{dead}")
    not_a_pid = _folder(tmp_path, f"{PREFIX}.{dead}x")
    theirs = _folder(tmp_path, f"{PREFIX}.{theirs_pid}")
    os.chown(theirs, NOBODY, NOBODY)
    target = _folder(tmp_path, "kept-behind-a-link")
    link = tmp_path / f"{PREFIX}.{linked_pid}"
    link.symlink_to(target)
    plain_file = tmp_path / f"{PREFIX}.{file_pid}"
    plain_file.write_text("not a folder")

    removed = remove_stale_copies(tmp_path, PREFIX)

    assert removed == [stale] and not stale.exists()
    for kept in (running, parent_run, other_prefix, not_a_pid, theirs, target, link, plain_file):
        assert kept.exists() or kept.is_symlink(), kept
    assert (target / "copy" / "replica.duckdb").exists()


def test_a_missing_parent_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale_copies(tmp_path / "absent", PREFIX) == []
