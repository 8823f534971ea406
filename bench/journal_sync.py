"""What making one journal entry durable costs on this disk, by way of writing it.

    python -m bench.journal_sync --entries 400 --bytes 6000 --rounds 3 \
        [--dir /tmp] [--noise thread|process]

Each way writes ``--entries`` entries of ``--bytes`` one after another, each
made durable before the next (one request in flight), and prints the p50 / p99
latency of write + sync per entry:

- ``append+fdatasync``: written at the end of the file, so the sync also commits
  the new size and blocks (the file system's journal);
- ``overwrite+fdatasync``: written over zeros already written and synced (what
  collector/journal.py does): no metadata changes;
- ``fallocate+fdatasync``: over room reserved by fallocate (unwritten extents,
  which the first write converts: metadata again);
- ``overwrite O_DSYNC`` / ``append O_DSYNC``: the same with the file opened
  ``O_DSYNC``, so each write returns durable (no separate syscall);
- ``overwrite RWF_DSYNC``: over zeros, ``pwritev`` with ``RWF_DSYNC``: durable
  on return for that write only (the file stays open without ``O_DSYNC``).

``--noise thread`` runs a thread beside them that appends 64 KiB and
fdatasyncs another file in a loop, as DuckDB's WAL commits do beside the
journal; ``--noise process`` does the same from another process.
Ways are alternated within each round so that the machine's load falls on
all of them alike.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main"]

Way = Callable[[Path, bytes, int], list[float]]


def _each_timed(entries: int, write_entry: Callable[[int], object]) -> list[float]:
    """Seconds each of ``write_entry(0)`` ... ``write_entry(entries - 1)`` took."""
    took = []
    for i in range(entries):
        began = time.perf_counter()
        write_entry(i)
        took.append(time.perf_counter() - began)
    return took


def _timed(fd: int, frame: bytes, entries: int, offset: int, sync: bool) -> list[float]:
    def write_entry(i: int) -> None:
        os.pwrite(fd, frame, offset + i * len(frame))
        if sync:
            os.fdatasync(fd)

    return _each_timed(entries, write_entry)


def _prefilled(path: Path, size: int, flags: int = 0) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.pwrite(fd, bytes(size), 0)
    os.fsync(fd)
    os.close(fd)
    return os.open(path, os.O_RDWR | flags)


def append_fdatasync(path: Path, frame: bytes, entries: int) -> list[float]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        return _timed(fd, frame, entries, 0, sync=True)
    finally:
        os.close(fd)


def overwrite_fdatasync(path: Path, frame: bytes, entries: int) -> list[float]:
    fd = _prefilled(path, len(frame) * entries)
    try:
        return _timed(fd, frame, entries, 0, sync=True)
    finally:
        os.close(fd)


def fallocate_fdatasync(path: Path, frame: bytes, entries: int) -> list[float]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, len(frame) * entries)
        os.fsync(fd)
        return _timed(fd, frame, entries, 0, sync=True)
    finally:
        os.close(fd)


def overwrite_odsync(path: Path, frame: bytes, entries: int) -> list[float]:
    fd = _prefilled(path, len(frame) * entries, os.O_DSYNC)
    try:
        return _timed(fd, frame, entries, 0, sync=False)
    finally:
        os.close(fd)


def overwrite_rwf_dsync(path: Path, frame: bytes, entries: int) -> list[float]:
    fd = _prefilled(path, len(frame) * entries)
    try:
        return _each_timed(entries, lambda i: os.pwritev(fd, [frame], i * len(frame), os.RWF_DSYNC))
    finally:
        os.close(fd)


def append_odsync(path: Path, frame: bytes, entries: int) -> list[float]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_DSYNC, 0o600)
    try:
        return _timed(fd, frame, entries, 0, sync=False)
    finally:
        os.close(fd)


WAYS: dict[str, Way] = {
    "append+fdatasync": append_fdatasync,
    "overwrite+fdatasync": overwrite_fdatasync,
    "fallocate+fdatasync": fallocate_fdatasync,
    "overwrite O_DSYNC": overwrite_odsync,
    "overwrite RWF_DSYNC": overwrite_rwf_dsync,
    "append O_DSYNC": append_odsync,
}


def _append_and_sync(path: Path, stop: Any) -> None:
    """Append 64 KiB and fdatasync ``path`` until ``stop`` is set, as DuckDB's commits do."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = os.urandom(64 << 10)
    try:
        while not stop.is_set():
            os.write(fd, chunk)
            os.fdatasync(fd)
            if os.fstat(fd).st_size > 64 << 20:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


class _Noise:
    """Another file appended and synced beside the entries, by a thread or a process."""

    def __init__(self, path: Path, kind: str) -> None:
        if kind == "process":
            ctx = mp.get_context("spawn")
            self._stop: Any = ctx.Event()
            self._worker: Any = ctx.Process(target=_append_and_sync, args=(path, self._stop))
        else:
            self._stop = threading.Event()
            self._worker = threading.Thread(
                target=_append_and_sync, args=(path, self._stop), daemon=True
            )

    def __enter__(self) -> _Noise:
        self._worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._worker.join(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=400)
    parser.add_argument("--bytes", type=int, default=6000, help="bytes of one entry")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where (default: the temp dir)")
    parser.add_argument(
        "--noise", choices=("thread", "process"), help="another file synced beside, by ..."
    )
    args = parser.parse_args(argv)

    frame = os.urandom(args.bytes)
    took: dict[str, list[float]] = {name: [] for name in WAYS}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="journal-sync-") as tmp:
        noise = _Noise(Path(tmp) / "noise.wal", args.noise) if args.noise else None
        if noise:
            noise.__enter__()
        try:
            for _ in range(args.rounds):
                for name, way in WAYS.items():
                    path = Path(tmp) / "entries.log"
                    took[name].extend(way(path, frame, args.entries))
                    path.unlink()
        finally:
            if noise:
                noise.__exit__(None, None, None)
    report: dict[str, object] = {
        "entries": args.entries * args.rounds,
        "entry_bytes": args.bytes,
        "noise": args.noise,
        "loadavg_1m": os.getloadavg()[0],
    }
    for name, values in took.items():
        values.sort()
        report[name] = {
            "p50_ms": round(statistics.median(values) * 1000, 3),
            "p99_ms": round(values[int(len(values) * 0.99) - 1] * 1000, 3),
            "mean_ms": round(statistics.fmean(values) * 1000, 3),
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
