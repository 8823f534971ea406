"""Progress of a long download on stderr: shown on a terminal, or when asked with --progress."""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO, Any

__all__ = ["Progress", "add_progress_argument", "content_length"]

_EVERY_S = 0.2  # redraw at most five times a second


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--progress``: report progress on stderr even when it is not a terminal."""
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr (the default when stderr is a terminal)",
    )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


class Progress:
    """Bytes received so far, redrawn in place on a terminal, one line per update otherwise."""

    def __init__(self, label: str, *, forced: bool, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self.enabled = forced or self._tty
        self._label = label
        self._total: int | None = None
        self._done = 0
        self._last = 0.0
        self._started = time.monotonic()

    def start(self, total: int | None) -> None:
        """The expected size, when the server says it (Content-Length)."""
        self._total = total

    def advance(self, count: int) -> None:
        self._done += count
        now = time.monotonic()
        if now - self._last >= _EVERY_S:
            self._last = now
            self._draw(final=False)

    def finish(self) -> None:
        self._draw(final=True)

    def _draw(self, *, final: bool) -> None:
        if not self.enabled:
            return
        text = f"{self._label}: {_size(self._done)} received"
        if self._total:
            text += f" of {_size(self._total)} ({100 * self._done / self._total:.0f}%)"
        text += f", {time.monotonic() - self._started:.1f} s"
        if final:
            text += ", done"
        end = "\n" if final or not self._tty else ""
        self._stream.write(("\r\x1b[K" if self._tty else "") + text + end)
        self._stream.flush()


def content_length(header: str | None) -> int | None:
    """The size announced by a Content-Length header, if it is a number."""
    return int(header) if header and header.isdigit() else None


_CHUNK = 1 << 20


def receive(response: Any, out: IO[bytes], progress: Progress) -> None:
    """Write a streamed HTTP response body to ``out``, showing progress."""
    progress.start(content_length(response.headers.get("content-length")))
    for chunk in response.iter_bytes(_CHUNK):
        out.write(chunk)
        progress.advance(len(chunk))
    progress.finish()
