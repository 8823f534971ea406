"""Remove the ``/sql`` copy folders that test runs killed before their end left behind.

Each test process keeps its collectors' ``/sql`` copies in ``<tmp>/<prefix>.<pid>`` and
removes the folder when its session ends cleanly; a run killed first (a timeout, ^C twice,
the OOM killer) leaves it, tens of MB each. At the start of a session, folders of that
prefix are removed when they are ours (owned by this user, a real folder, not a link) and
their process is gone. A folder whose pid is alive is kept, whoever runs it: a pid reused
since only postpones the removal to a later session.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

__all__ = ["remove_stale_copies", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_copies(parent: Path, prefix: str) -> list[Path]:
    """Remove ``parent/<prefix>.<pid>`` folders of this user whose process is gone; the
    folders removed."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        name, dot, suffix = entry.name.rpartition(".")
        if not dot or name != prefix or not suffix.isascii() or not suffix.isdigit():
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or pid_alive(int(suffix)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
