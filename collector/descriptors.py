"""File descriptors: as many as the system lets the collector have, and a clear
word, not a traceback per connection, when they run out.

Every connection, journal segment, DuckDB file and search-index segment takes
one. A client opening connections and leaving them idle used them all up
(``ulimit -n`` 256, 800 idle connections to the OTLP ports): the event loop
then logged a traceback for each failed ``accept`` (hundreds a second, saying
"out of system resource"), and every exporter and API call timed out until
the request deadline closed the idle ones (collector/http_deadline.py). Now:

- the soft limit is raised to the hard one at start (systemd's default soft
  limit is 1,024, its hard one 524,288);
- when ``accept`` fails for want of descriptors, one error line at most every
  10 s names the figures and what to change, and HTTP connections that have
  not sent a request for a second are closed (oldest first), so the
  descriptors go to clients that use them; ``/healthz`` reports the count and
  the limit.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import time
from collections.abc import Callable
from typing import Any

__all__ = ["open_files", "open_files_limit", "raise_open_files_limit", "watch_accept_failures"]

logger = logging.getLogger(__name__)

_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
# One line at most this often: the loop retries accept every second.
_REPORT_EVERY_S = 10.0


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # not allowed here: keep what we have
            pass
    return soft


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_files() -> int:
    """Descriptors this process has open now: all it may have when none is left to
    list them with, -1 where /proc is not there."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError as exc:
        return open_files_limit() if exc.errno in _OUT_OF_DESCRIPTORS else -1


def watch_accept_failures(loop: asyncio.AbstractEventLoop, shed: Callable[[], int]) -> None:
    """Handle ``loop``'s failed accepts for want of descriptors: ``shed()`` idle
    connections (it returns how many it closed) and say so, rate-limited. Other
    errors go to the loop's default handler as before."""
    last_report = -_REPORT_EVERY_S
    refused = 0

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal last_report, refused
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in _OUT_OF_DESCRIPTORS):
            loop.default_exception_handler(context)
            return
        closed = shed()
        refused += 1
        now = time.monotonic()
        if now - last_report >= _REPORT_EVERY_S:
            last_report = now
            logger.error(
                "out of file descriptors (%d open, limit %d): new connections wait "
                "(%d accept failures); closed %d idle HTTP connections. Raise the "
                "limit (systemd LimitNOFILE=, ulimit -n), or put a proxy with connection "
                "limits in front",
                open_files(),
                open_files_limit(),
                refused,
                closed,
            )
            refused = 0

    loop.set_exception_handler(handle)
