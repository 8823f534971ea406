"""The request journal: an ingest request is acknowledged once it is here.

Each request's spans (already redacted) are appended to a segment file in
``<db>.journal/`` and made durable with ``fdatasync`` before the receiver
answers; the writer thread then applies many requests to DuckDB in one
transaction. Concurrent receivers share one ``fdatasync`` (group sync): the
thread that syncs covers every entry written before it started.

An entry is ``magic | length | crc32 | payload``. Entries are written in order
and an entry is acknowledged only after everything before it is synced, so a
crash can only tear the tail: replay reads each segment up to its first entry
that does not check out, and every acknowledged entry comes before it.

A segment is emptied (truncated) or deleted only after every entry in it was
committed to DuckDB. Replay after a crash may apply an entry DuckDB already
holds: spans are keyed by (trace_id, span_id) and the same span twice changes
nothing, so that is harmless.

Entries are written into room zero-filled ahead of them, not appended: an
``fdatasync`` after an append must also commit the file's new size and blocks
through the file system's journal (ext4's), and so waits behind every other
file's data that journal commit carries (DuckDB's own writes among them),
while an entry written over zeros changes no metadata and its sync writes its
own pages only. The room is filled 256 KiB at a time, and synced, by a
thread of its own when a commit's release finds it running low, so a
receiver rarely pays for it. Replay ends a segment at its zeros.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from collector.errors import CollectorError

__all__ = [
    "Journal",
    "JournalTicket",
    "JournalError",
    "journal_dir",
    "read_entries",
    "remove_segments",
    "keep_rejected",
]

logger = logging.getLogger(__name__)

_MAGIC = b"AAJ1"
_HEADER = struct.Struct("<4sII")  # magic, payload length, crc32 of the payload
_SUFFIX = ".log"
# Past this size a segment is sealed and a new one started, so a journal that
# never drains completely (steady load) still frees its committed entries.
SEGMENT_BYTES = 32 << 20
# Zero-filled room is made this much at a time ahead of the entries (a sync per
# fill: small enough that the journal stays small on a nearly full disk).
FILL_BYTES = 256 << 10
# An open segment whose entries are all committed is emptied once it holds this
# much (emptying it means filling its room with zeros again).
EMPTY_AT_BYTES = 1 << 20
_MAX_ENTRY_BYTES = 1 << 31


class JournalError(CollectorError, OSError):
    """The journal cannot be written or read; the request was not acknowledged."""


@dataclass(frozen=True)
class JournalTicket:
    """Where one appended entry lives, until the writer commits it."""

    segment: int
    seq: int  # order of appends, across segments
    size: int  # bytes on disk


def journal_dir(db_path: Path) -> Path:
    """The journal beside the database file."""
    return db_path.with_name(db_path.name + ".journal")


def _segment_name(number: int) -> str:
    return f"{number:012d}{_SUFFIX}"


def _segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        stem = path.name.removesuffix(_SUFFIX)
        if path.name.endswith(_SUFFIX) and stem.isdigit():
            found.append((int(stem), path))
    return sorted(found)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entry_at(data: bytes, offset: int) -> bytes | None:
    """The payload of an intact entry starting at ``offset``, or None."""
    if offset + _HEADER.size > len(data):
        return None
    magic, length, crc = _HEADER.unpack_from(data, offset)
    start = offset + _HEADER.size
    payload = data[start : start + length]
    if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return payload


def _next_entry(data: bytes, offset: int) -> int:
    """Where the next intact entry after ``offset`` starts; len(data) if none does."""
    found = data.find(_MAGIC, offset + 1)
    while found >= 0:
        if _entry_at(data, found) is not None:
            return found
        found = data.find(_MAGIC, found + 1)
    return len(data)


def read_entries(directory: Path, *, keep_damaged: bool = False) -> Iterator[tuple[Path, bytes]]:
    """Every intact entry, oldest segment first.

    A crash can only tear a segment's tail (never acknowledged: skipped). An
    entry that does not check out with intact entries after it is damage (a
    flipped bit, a bad sector): the entries after it were acknowledged and are
    read on; with ``keep_damaged`` the unreadable bytes are kept in a
    ``damaged-*.bin`` file beside the journal for a person, and logged.
    """
    if not directory.exists():
        return
    for _, path in _segments(directory):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            payload = _entry_at(data, offset)
            if payload is not None:
                yield path, payload
                offset += _HEADER.size + len(payload)
                continue
            resume = _next_entry(data, offset)
            if resume == len(data):
                # Zeros: the room filled ahead of the entries. Anything else was
                # never acknowledged: its request got no answer, or an error.
                torn = len(data[offset:].rstrip(b"\0"))
                if torn:
                    logger.warning("%s: %d byte(s) of an unfinished entry ignored", path, torn)
                break
            kept = "not kept (inspection only)"
            if keep_damaged:
                kept = f"kept in {_keep_damaged(directory, path, offset, data[offset:resume])}"
            logger.error(
                "%s: %d damaged byte(s) at offset %d, an acknowledged request that cannot be "
                "read back; %s; the entries after it are applied",
                path,
                resume - offset,
                offset,
                kept,
            )
            offset = resume


def _keep_damaged(directory: Path, segment: Path, offset: int, data: bytes) -> Path:
    path = directory / f"damaged-{segment.stem}-{offset}.bin"
    if path.exists():  # kept by a start that stopped before the journal was applied
        return path
    _write_synced(path, data, os.O_TRUNC)
    return path


class Journal:
    """Appends entries durably and frees them once the writer has committed them."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        fill_bytes: int = FILL_BYTES,
        empty_at_bytes: int = EMPTY_AT_BYTES,
    ) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._fill_bytes = fill_bytes
        self._empty_at_bytes = empty_at_bytes
        self._filled = 0  # the open segment's bytes on disk: entries, then zeros
        self._closed = False
        # Set when the open segment's room runs low (see _make_room).
        self._room_wanted = threading.Event()
        self._lock = threading.Lock()  # the open segment, counters, outstanding entries
        self._sync_lock = threading.Lock()  # one fdatasync at a time; fds close under it
        self._appended = 0  # sequence number of the last entry written
        self._synced = 0  # every entry up to this one is on disk
        # (after, upto]: entries that saw a failed sync; never acknowledged.
        self._failed: list[tuple[int, int]] = []
        self._outstanding: dict[int, int] = {}  # segment -> entries not yet committed
        self._sealed: dict[int, Path] = {}  # closed segments still holding entries
        self._broken = False  # the open segment may hold a torn entry: start another
        self.bytes_pending = 0  # bytes of entries not yet committed
        try:
            directory.mkdir(exist_ok=True)
            existing = _segments(directory)
            self._number = existing[-1][0] + 1 if existing else 1
            self._fd, self._size = self._open_segment(self._number)
            self._fill(self._fd, fill_bytes)
            os.fdatasync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot create the request journal {directory}: {exc}") from None
        threading.Thread(target=self._make_room, name="journal-room", daemon=True).start()

    def _open_segment(self, number: int) -> tuple[int, int]:
        path = self.directory / _segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _fsync_dir(self.directory)  # the new name survives a crash
        except OSError:
            os.close(fd)  # a full disk: not leaked once per rotation tried
            raise
        self._outstanding[number] = 0
        self._filled = 0
        return fd, 0

    def _fill(self, fd: int, upto: int) -> None:
        """Zero-fill the open segment up to ``upto`` bytes; caller holds ``_lock``.

        A fill cut short (a full disk) is fine: an entry past the room is
        written all the same, and pays for the metadata in its own sync."""
        upto = min(upto, max(self._segment_bytes, self._size))
        try:
            while self._filled < upto:
                zeros = bytes(min(upto - self._filled, 1 << 20))
                self._filled += os.pwrite(fd, zeros, self._filled)
        except OSError:
            self._filled = self._size  # filled again (zeros over zeros) next time

    # --- receivers -------------------------------------------------------------
    def append(self, payload: bytes) -> JournalTicket:
        """Write one entry (not yet durable: call ``sync`` before acknowledging)."""
        if len(payload) >= _MAX_ENTRY_BYTES:
            raise JournalError(f"a journal entry of {len(payload)} bytes is too large")
        frame = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
        while True:
            if self._size >= self._segment_bytes or self._broken:
                self._rotate()
            with self._lock:
                if self._broken:
                    continue  # another thread's write failed since: start a new segment
                before = self._size
                if before + len(frame) > self._filled:
                    self._fill(self._fd, self._filled + self._fill_bytes)
                try:
                    written = os.pwrite(self._fd, frame, before)
                    if written != len(frame):
                        raise OSError(f"short write ({written} of {len(frame)} bytes)")
                except OSError as exc:
                    self._undo_write(before, len(frame))
                    raise JournalError(f"cannot write the request journal: {exc}") from None
                self._size += len(frame)
                self._filled = max(self._filled, self._size)
                self._appended += 1
                self._outstanding[self._number] += 1
                self.bytes_pending += len(frame)
                return JournalTicket(self._number, self._appended, len(frame))

    def _undo_write(self, offset: int, length: int) -> None:
        # A torn entry would end replay of this segment early: zero it (the next
        # entry is written over it), or if that fails too, write the next entries
        # to a new segment.
        try:
            end = os.fstat(self._fd).st_size
            torn = min(end, offset + length) - offset
            if torn > 0:
                os.pwrite(self._fd, bytes(torn), offset)
            self._filled = max(end, offset)
        except OSError:
            self._broken = True

    def sync(self, ticket: JournalTicket) -> None:
        """Return once the entry is on disk (group sync). Raises JournalError."""
        synced = self._synced  # read before the failures: a later success cannot hide one
        if any(after < ticket.seq <= upto for after, upto in self._failed):
            raise JournalError("a sync of the request journal failed")
        if synced >= ticket.seq:
            return
        with self._sync_lock:
            if any(after < ticket.seq <= upto for after, upto in self._failed):
                raise JournalError("a sync of the request journal failed")
            if self._synced >= ticket.seq:
                return
            with self._lock:
                target, fd = self._appended, self._fd
            try:
                os.fdatasync(fd)
            except OSError as exc:
                # After a failed fdatasync the page cache's state is unknown: no entry
                # written so far is acknowledged, and new ones go to a new segment.
                self._failed.append((self._synced, target))
                self._broken = True
                raise JournalError(f"cannot sync the request journal: {exc}") from None
            self._synced = max(self._synced, target)

    def _rotate(self) -> None:
        with self._sync_lock, self._lock:
            if self._size < self._segment_bytes and not self._broken:
                return  # another thread rotated first
            old_number, old_fd = self._number, self._fd
            self._fd = -1
            try:
                if self._broken or old_fd < 0:
                    raise OSError("the segment may hold a torn entry")
                os.fdatasync(old_fd)  # sync() of entries written to it stays true
                self._synced = self._appended
            except OSError:
                self._failed.append((self._synced, self._appended))
            if old_fd >= 0:
                os.close(old_fd)
            old_path = self.directory / _segment_name(old_number)
            if self._outstanding.get(old_number, 0) == 0:
                self._outstanding.pop(old_number, None)
                old_path.unlink(missing_ok=True)
            else:
                self._sealed[old_number] = old_path
            self._number += 1
            try:
                self._fd, self._size = self._open_segment(self._number)
            except OSError as exc:
                self._broken = True  # the next append tries again
                raise JournalError(f"cannot start a journal segment: {exc}") from None
            self._broken = False

    # --- the writer ------------------------------------------------------------
    def release(self, tickets: list[JournalTicket]) -> None:
        """The writer committed these entries: free what no longer holds any other."""
        with self._lock:
            for ticket in tickets:
                self._outstanding[ticket.segment] -= 1
                self.bytes_pending -= ticket.size
            for number in [n for n in self._sealed if self._outstanding[n] == 0]:
                path = self._sealed.pop(number)
                del self._outstanding[number]
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    logger.exception("cannot remove the committed journal segment %s", path)
            if self._broken or self._fd < 0:
                return
            current_empty = self._outstanding.get(self._number, 0) == 0
            if current_empty and self._size >= self._empty_at_bytes:
                # Everything in it is in DuckDB. If the truncation is lost in a
                # crash, replay applies committed entries again: harmless (so are
                # the committed entries left until it holds this much).
                try:
                    os.ftruncate(self._fd, 0)
                    self._size = self._filled = 0
                except OSError:
                    logger.exception("cannot truncate the committed request journal")
                    return
            if self._filled - self._size < self._fill_bytes // 2:
                self._room_wanted.set()

    def _make_room(self) -> None:
        """The journal-room thread: zero-fill room ahead of the entries and sync it,
        so that their own syncs find the file's size and blocks on disk already.
        On a thread of its own, its sync holds up no acknowledgement, commit or read."""
        while True:
            self._room_wanted.wait()
            self._room_wanted.clear()
            with self._lock:
                if self._closed:
                    return
                if self._broken or self._fd < 0:
                    continue
                self._fill(self._fd, self._size + self._fill_bytes)
                try:
                    fd = os.dup(self._fd)  # a rotation may close the segment meanwhile
                except OSError:
                    continue
            try:
                os.fdatasync(fd)
            except OSError:
                pass  # the next entry's own sync reports it
            finally:
                os.close(fd)

    def close(self) -> None:
        """Close the open segment; remove every segment if nothing is outstanding."""
        with self._sync_lock, self._lock:
            self._closed = True
            self._room_wanted.set()  # the journal-room thread ends
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if all(n == 0 for n in self._outstanding.values()):
                for _, path in _segments(self.directory):
                    path.unlink(missing_ok=True)

    @property
    def size_bytes(self) -> int:
        """Bytes on disk in the open segment (for tests and /healthz)."""
        return self._size


def remove_segments(directory: Path) -> None:
    """After a replay committed every entry: drop the replayed segments."""
    for _, path in _segments(directory):
        path.unlink()
    _fsync_dir(directory)


def keep_rejected(directory: Path, payload: bytes) -> Path:
    """Keep an acknowledged entry DuckDB refused in its own synced file, for a person."""
    path = directory / f"rejected-{time.time_ns()}.json"
    _write_synced(path, payload, os.O_EXCL)
    return path


def _write_synced(path: Path, data: bytes, flags: int) -> None:
    """Write ``data`` as the file ``path`` (created with ``flags``), then sync it and its folder."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)
