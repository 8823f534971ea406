"""Terminal output for the CLI: inert text, status badges, durations, tables.

Stored values come from agents and the programs they ran, so anything printed
is first made inert: control characters, ANSI escape sequences and bidi
overrides are shown as visible escapes instead of reaching the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

__all__ = [
    "inert",
    "dumps_inert",
    "one_line",
    "Style",
    "format_duration",
    "format_time",
    "render_table",
]

# Unicode format characters that reorder or hide text (Trojan Source, CVE-2021-42574).
_BIDI = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
)


def inert(text: Any, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, escape and bidi character shown as ``\\xNN``/``\\uNNNN``."""
    if text is None:
        return ""
    value = text if isinstance(text, str) else str(text)
    out: list[str] = []
    for ch in value:
        code = ord(ch)
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif ch == "\t":
            out.append("    " if keep_newlines else " ")
        elif code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif ch in _BIDI or (unicodedata.category(ch) == "Cf" and code != 0x200D):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _dangerous(ch: str) -> bool:
    code = ord(ch)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or ch in _BIDI
        or (unicodedata.category(ch) == "Cf" and code != 0x200D)
    )


def dumps_inert(value: Any, *, indent: int | None = 2) -> str:
    """JSON text in which no character can act on a terminal.

    ``json.dumps`` escapes C0 controls but lets DEL, C1 controls (0x9b is CSI)
    and bidi overrides through; they can only occur inside JSON strings, where
    a ``\\uNNNN`` escape stands for the same character.
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return "".join(f"\\u{ord(ch):04x}" if ch != "\n" and _dangerous(ch) else ch for ch in text)


def one_line(text: Any, width: int | None = None, *, ascii_only: bool = False) -> str:
    """Inert text on one line (newlines become spaces), cut to ``width`` with an ellipsis."""
    flat = inert(str(text).replace("\r\n", " ").replace("\n", " ") if text is not None else "")
    if width is not None and len(flat) > width:
        ellipsis = "..." if ascii_only else "…"
        flat = flat[: max(0, width - len(ellipsis))] + ellipsis
    return flat


_BADGES = {
    "running": ("⟳", "33"),  # yellow
    "completed": ("✓", "32"),  # green
    "failed": ("✗", "31"),  # red
    "max_steps": ("⤓", "35"),  # magenta
    "cancelled": ("⊘", "90"),  # grey
    "lost": ("?", "91"),  # bright red
}


class Style:
    """Colour and symbols only when writing to a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        stream = stream or sys.stdout
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self.width = shutil.get_terminal_size((120, 24)).columns if self.tty else None

    def badge_text(self, status: str | None) -> str:
        """The badge without colour codes (its visible width)."""
        status = status or "?"
        symbol = _BADGES.get(status, ("", ""))[0]
        return f"{symbol} {status}" if self.tty and symbol else status

    def paint(self, status: str | None, padded: str) -> str:
        """Colour an already padded badge."""
        code = _BADGES.get(status or "", ("", ""))[1]
        return f"\x1b[{code}m{padded}\x1b[0m" if self.color and code else padded

    def bold(self, text: str) -> str:
        """Bold on a colour terminal."""
        return f"\x1b[1m{text}\x1b[0m" if self.color else text

    def dim(self, text: str) -> str:
        """Dim on a colour terminal."""
        return f"\x1b[2m{text}\x1b[0m" if self.color else text


def format_duration(ms: float | None) -> str:
    """850ms, 12.3s, 4m05s, 1h02m; empty for unknown."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_time(iso: str | None) -> str:
    """``2025-01-31T12:00:05.123Z`` -> ``2025-01-31 12:00:05`` (UTC)."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return inert(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    painters: Sequence[Any] | None = None,
    max_widths: Sequence[int | None] | None = None,
    ascii_only: bool = False,
) -> list[str]:
    """Aligned text columns. Cells must already be inert; ``painters[i](cell, padded)``
    may colour column i after padding, so colour codes never disturb alignment."""
    count = len(headers)
    limits = list(max_widths or [None] * count)
    cells = [
        [one_line(row[i], limits[i], ascii_only=ascii_only) for i in range(count)] for row in rows
    ]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for raw, row in zip(rows, cells, strict=True):
        parts = []
        for i, cell in enumerate(row):
            padded = cell.ljust(widths[i]) if i < count - 1 else cell
            painter = painters[i] if painters and i < len(painters) else None
            parts.append(painter(raw[i], padded) if painter else padded)
        lines.append("  ".join(parts).rstrip())
    return lines
