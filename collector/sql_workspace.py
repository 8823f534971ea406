"""The one folder the ``/sql`` worker's files live in, kept bounded.

Under ``AGENT_AUDIT_SQL_COPY_DIR`` (default ``$TMPDIR/agent-audit-sql.<uid>``, mode
0700, owned by the collector's user):

- ``copy-<hash of the store path>/``: a store's copy, kept across restarts
  (:mod:`collector.sql_saved_copy`);
- ``worker-<collector pid>-<random>/``: the files of one worker of a store
  without a file (``:memory:``); the collector removes it once it has reaped
  that worker, whatever ended it.

Each carries a marker file (``agent-audit-sql.json``: its kind and the store
path, or the collector's pid). Whoever uses a folder holds an exclusive
``flock`` on its marker; the lock ends with the process, however it ends. At
start the collector removes the folders whose lock it can take and that are
stale: copies whose store no longer exists or that were last used more than
``AGENT_AUDIT_SQL_COPY_KEEP_DAYS`` ago, worker folders whose collector is
dead. A folder without the marker, a symlink, or anything outside the folder
is never touched, with one exception: the copy an earlier version kept for
this very store in ``$TMPDIR/agent-audit-sql-<hash>`` is moved in.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.errors import CollectorError
from instrumentation import env as E

__all__ = ["MARKER", "HeldFolder", "Swept", "SqlWorkspace", "WorkspaceError"]

logger = logging.getLogger(__name__)

MARKER = "agent-audit-sql.json"
_COPY, _WORKER, _REMOVING = "copy-", "worker-", "removing-"
_MARKER_MAX_BYTES = 64 * 1024
_CLAIM_WAIT_S = 10.0  # a sweep in another collector holds a copy's lock this long at most


class WorkspaceError(CollectorError, OSError):
    """The folder for the ``/sql`` worker's files cannot be used safely."""


@dataclass(frozen=True)
class Swept:
    """What a sweep removed: folders and their bytes on disk."""

    folders: int
    bytes_freed: int


class HeldFolder:
    """A folder of ours, locked (its marker ``flock``-ed) until released."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def touch(self) -> None:
        """Mark the folder used now (its marker's mtime is its last use)."""
        if self._fd is not None:
            os.utime(self._fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> int:
        """Remove the folder (still locked while its files go); its bytes on disk."""
        try:
            return _remove_folder(self.path)
        finally:
            self.release()


class SqlWorkspace:
    """The folder of the ``/sql`` worker's copies and scratch folders."""

    def __init__(self, root: Path, *, keep_s: float) -> None:
        self.root = Path(root)
        self.keep_s = keep_s

    @staticmethod
    def default_root() -> Path:
        # One per user: a shared temporary folder must not make one user's
        # collector refuse to start because another's came first.
        return Path(tempfile.gettempdir()) / f"agent-audit-sql.{os.geteuid()}"

    def prepare(self) -> None:
        """Create the folder (0700), or check that an existing one is ours and private."""
        try:
            self.root.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            pass
        except OSError as exc:
            raise self._refused(f"cannot be created: {exc}") from None
        info = os.lstat(self.root)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise self._refused("is not a folder (a symlink or a file)")
        if info.st_uid != os.geteuid():
            # Another user could read the copies, or plant files in them.
            raise self._refused(f"belongs to user id {info.st_uid}, not to {os.geteuid()}")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.root, 0o700)

    def copy_path(self, db_path: Path) -> Path:
        """The folder of the copy of the store at ``db_path``."""
        digest = hashlib.sha256(str(Path(db_path).resolve()).encode()).hexdigest()[:16]
        return self.root / f"{_COPY}{digest}"

    def claim_copy(self, db_path: Path) -> HeldFolder:
        """The copy's folder (created if missing), locked and marked used now."""
        store = str(Path(db_path).resolve())
        path = self.copy_path(db_path)
        self._adopt_earlier_layout(db_path, path)
        deadline = time.monotonic() + _CLAIM_WAIT_S
        while True:
            path.mkdir(mode=0o700, exist_ok=True)
            marker = path / MARKER
            if not marker.exists():
                _write_marker(marker, {"kind": "copy", "store": store})
            fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            locked = _lock(fd, wait_until=deadline)
            # A sweep may have taken the folder away while we waited: start again.
            if locked and _same_file(fd, marker):
                os.utime(fd)
                return HeldFolder(path, fd)
            os.close(fd)
            if not locked:
                raise WorkspaceError(f"the /sql copy {path} is held by another process")

    def new_worker_folder(self) -> HeldFolder:
        """A fresh folder for one worker, locked, naming this collector as its owner."""
        path = Path(tempfile.mkdtemp(prefix=f"{_WORKER}{os.getpid()}-", dir=self.root))
        marker = path / MARKER
        _write_marker(marker, {"kind": "worker", "owner_pid": os.getpid()})
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: no one else can hold it
        return HeldFolder(path, fd)

    def sweep(self) -> Swept:
        """Remove the stale folders nobody holds; log what went at INFO."""
        now = time.time()
        folders = freed = 0
        with os.scandir(self.root) as entries:
            candidates = [
                Path(entry.path)
                for entry in entries
                if entry.name.startswith((_COPY, _WORKER, _REMOVING))
                and entry.is_dir(follow_symlinks=False)
            ]
        for path in candidates:
            try:
                removed = self._sweep_one(path, now)
            except OSError as exc:
                logger.warning("could not remove the stale /sql folder %s: %s", path, exc)
                continue
            if removed is not None:
                folders += 1
                freed += removed
        if folders:
            logger.info(
                "removed %d stale /sql folder(s) from %s, %.1f MB freed",
                folders,
                self.root,
                freed / 1e6,
            )
        return Swept(folders, freed)

    # --- internals -------------------------------------------------------------
    def _sweep_one(self, path: Path, now: float) -> int | None:
        """The bytes freed by removing ``path``, or None when it stays."""
        try:
            fd = os.open(path / MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            if path.name.startswith(_REMOVING):
                # A removal cut short after its marker went: only an empty folder is left.
                with contextlib.suppress(OSError):
                    path.rmdir()
                    return 0
            return None  # no marker (not ours, or still being made): never touched
        try:
            body = _read_marker(fd)
            if body is None or not _lock(fd, wait_until=None):
                return None  # unreadable, or in use
            last_used = os.fstat(fd).st_mtime  # stable now: users touch it once locked
            if not self._stale(path.name, body, last_used, now):
                return None
            if not path.name.startswith(_REMOVING):
                # Out of the way at once: a collector claiming it starts a fresh one.
                doomed = path.with_name(f"{_REMOVING}{path.name}-{uuid.uuid4().hex[:8]}")
                os.rename(path, doomed)
                path = doomed
            return _remove_folder(path)
        finally:
            os.close(fd)

    def _stale(self, name: str, body: dict[str, Any], last_used: float, now: float) -> bool:
        if name.startswith(_REMOVING):
            return True  # a removal cut short
        kind = body.get("kind")
        if kind == "copy" and name.startswith(_COPY):
            store = body.get("store")
            if not isinstance(store, str):
                return False
            return not os.path.exists(store) or now - last_used > self.keep_s
        if kind == "worker" and name.startswith(_WORKER):
            owner = body.get("owner_pid")
            return isinstance(owner, int) and not _process_alive(owner)
        return False

    def _adopt_earlier_layout(self, db_path: Path, path: Path) -> None:
        """Move in this store's copy kept by an earlier version, which had one folder per
        store directly in $TMPDIR: this store's, by name, is ours (we hold the store)."""
        digest = path.name.removeprefix(_COPY)
        earlier = Path(tempfile.gettempdir()) / f"agent-audit-sql-{digest}"
        try:
            info = os.lstat(earlier)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return  # a symlink, a file, or another user's: not the copy we kept
        if not path.exists():
            try:
                os.rename(earlier, path)  # kept: the next query sends only what changed
                logger.info("moved the /sql copy kept in %s to %s", earlier, path)
                return
            except OSError:
                pass  # on another file system: built anew
        shutil.rmtree(earlier, ignore_errors=True)
        logger.info("removed the /sql copy an earlier version kept in %s", earlier)

    def _refused(self, problem: str) -> WorkspaceError:
        return WorkspaceError(
            f"the folder for the /sql copies, {self.root}, {problem}; "
            f"choose another with {E.SQL_COPY_DIR.name}"
        )


def _write_marker(marker: Path, body: dict[str, Any]) -> None:
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(json.dumps(body))
    partial.replace(marker)


def _read_marker(fd: int) -> dict[str, Any] | None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MARKER_MAX_BYTES:
        return None
    try:
        body = json.loads(os.pread(fd, _MARKER_MAX_BYTES, 0))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _lock(fd: int, *, wait_until: float | None) -> bool:
    """Take the exclusive lock; False when another holds it past ``wait_until``."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        if wait_until is None or time.monotonic() >= wait_until:
            return False
        time.sleep(0.05)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we wrote: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _bytes_on_disk(path: Path) -> int:
    total = os.lstat(path).st_blocks * 512
    for parent, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(parent, name)).st_blocks * 512
    return total


def _remove_folder(path: Path) -> int:
    """Remove ``path`` without following a symlink, the marker last (a removal cut
    short is still recognised as ours); its bytes on disk."""
    freed = _bytes_on_disk(path)
    with os.scandir(path) as entries:
        children = [entry for entry in entries if entry.name != MARKER]
    for entry in children:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)  # fd-based on Linux: never follows a symlink
        else:
            os.unlink(entry.path)
    (path / MARKER).unlink(missing_ok=True)
    path.rmdir()
    return freed
