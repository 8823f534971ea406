"""How the search index is doing, and whether a failure of it calls for a rebuild.

The index (``<db>.search/``) is derived data, so a damaged one is rebuilt from
the database rather than mended: a directory deleted under the running
collector, a segment or ``meta.json`` overwritten, a marker of another layout.
A failure of the storage under it (a full disk, a read-only or unwritable
directory, an I/O error) is not damage: rebuilding would fail the same way, so
the follower keeps the index and tries again on its next beat, and the index
catches up once the storage is back. Meanwhile queries with ``q`` scan the
database (:meth:`collector.search_index.SearchIndex.wait_fresh`) and
``/healthz`` says why.
"""

from __future__ import annotations

import errno
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["IndexHealth", "damage_of", "storage_errno"]

logger = logging.getLogger("collector.search_index")

# Errors of the storage under the index, not of the index: a rebuild cannot help.
_STORAGE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EIO,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    }
)
# tantivy reports an OS error inside its message: "... (os error 28)" or "Os { code: 28, ...".
_OS_CODE = re.compile(r"os error (\d+)|Os \{ code: (\d+)")
_LOG_EVERY_S = 60.0  # while failing, one line a minute rather than a traceback a beat


def storage_errno(error: BaseException) -> int | None:
    """The errno of ``error`` when it is a failure of the storage (full, read-only, ...)."""
    code: int | None = error.errno if isinstance(error, OSError) else None
    if code is None:
        found = _OS_CODE.search(str(error))
        code = int(found.group(1) or found.group(2)) if found else None
    return code if code in _STORAGE_ERRNOS else None


def damage_of(directory: Path, format_text: str, open_index: Callable[[], object]) -> str | None:
    """Why the index in ``directory`` cannot be used and must be rebuilt; None when it can.

    ``open_index`` opens it afresh from disk (and reads it); an error of the
    storage while doing so is not damage (:func:`storage_errno`).
    """
    if not directory.is_dir():
        return f"{directory} is missing"
    marker = directory / "format"
    try:
        written = marker.read_text().strip()
    except FileNotFoundError:
        return f"{marker} is missing"
    except OSError as exc:
        return None if storage_errno(exc) else f"{marker}: {exc}"
    if written != format_text:
        return f"{marker} says {written[:40]!r}, not {format_text!r}"
    try:
        open_index()
    except Exception as exc:  # tantivy raises ValueError for every kind of failure
        return None if storage_errno(exc) else f"{type(exc).__name__}: {exc}"[:500]
    return None


class IndexHealth:
    """Failures of the follower in a row, for ``/healthz`` and the log."""

    def __init__(self) -> None:
        self.failing_since: float | None = None  # time.monotonic() of the first in a row
        self.failures = 0
        self.last_error = ""
        self.rebuilds = 0
        self._logged_at = 0.0

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"[:500]
        if self.failing_since is None:
            self.failing_since = now
            self._logged_at = now
            logger.error(
                "search index refresh failed; queries with q scan meanwhile", exc_info=error
            )
        elif now - self._logged_at >= _LOG_EVERY_S:
            self._logged_at = now
            logger.error(
                "search index still failing (%d attempts): %s", self.failures, self.last_error
            )

    def succeeded(self) -> None:
        if self.failing_since is not None:
            logger.warning("search index refreshed again after %d failed attempts", self.failures)
        self.failing_since = None
        self.failures = 0

    def rebuilding(self, reason: str) -> None:
        """The index was emptied, to be built again: what failed is gone with it."""
        self.rebuilds += 1
        self.failing_since = None
        self.failures = 0
        logger.warning("search index damaged (%s); rebuilding it from the database", reason)

    def as_dict(self, *, building: bool) -> dict[str, object]:
        """``state``: ``ok``; ``building`` (catching up, e.g. after a rebuild: queries
        with ``q`` scan meanwhile); ``failing`` (with since when and why)."""
        since = self.failing_since
        state = "failing" if since is not None else "building" if building else "ok"
        figures: dict[str, object] = {"state": state, "rebuilds": self.rebuilds}
        if since is not None:
            figures["failing_for_s"] = round(time.monotonic() - since, 1)
            figures["failed_attempts"] = self.failures
            figures["last_error"] = self.last_error
        return figures
