"""Cancel requests: a background poller of the collector's API sets each open run's flag.

The agent's thread never does I/O for this: ``run.cancel_requested`` reads a
flag, and ``run.step()`` raises :class:`~instrumentation.errors.RunCancelled`
once it is set. The poller is a daemon thread that sleeps while no run is open.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from instrumentation.forking import after_fork_in_child

__all__ = ["CancelFlag", "CancelPoller"]

logger = logging.getLogger(__name__)

# Run ids per request: keeps the query string far below common URL limits.
_IDS_PER_REQUEST = 50


class CancelFlag:
    """Whether a cancel was requested for one run, and by whom."""

    __slots__ = ("requested", "requested_by", "reason")

    def __init__(self) -> None:
        self.requested = False
        self.requested_by: str | None = None
        self.reason: str | None = None

    def set(self, requested_by: str | None = None, reason: str | None = None) -> None:
        """Record the request; the first one wins."""
        if self.requested:
            return
        self.requested_by = requested_by
        self.reason = reason
        self.requested = True  # written last: readers check this without a lock


class CancelPoller:
    """Polls ``GET {api_url}/agent/cancel-requests?run_id=..`` while runs are open."""

    def __init__(
        self,
        api_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        interval_s: float = 1.0,
        timeout_s: float = 2.0,
    ) -> None:
        scheme = urllib.parse.urlsplit(api_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"api_url must be http(s)://..., got {api_url!r}")
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.api_url = api_url.rstrip("/")
        self._headers = {"accept": "application/json", **(headers or {})}
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._flags: dict[str, CancelFlag] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        after_fork_in_child(self._reset_after_fork)

    def _reset_after_fork(self) -> None:
        # The child's runs are its own; the parent's poller thread is not there.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flags.clear()
        self._thread = None

    def watch(self, run_id: str, flag: CancelFlag) -> None:
        """Poll for ``run_id`` until :meth:`unwatch`; starts the thread on first use."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._flags[run_id] = flag
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="agent-audit-cancel-poller", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def unwatch(self, run_id: str) -> None:
        """Stop polling for ``run_id``."""
        with self._lock:
            self._flags.pop(run_id, None)

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop the thread (it is a daemon: a poll in flight never delays exit)."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def poll_once(self) -> int:
        """Ask the API about every open run now; returns how many flags were newly set."""
        with self._lock:
            flags = dict(self._flags)
        run_ids = [run_id for run_id, flag in flags.items() if not flag.requested]
        newly_set = 0
        for start in range(0, len(run_ids), _IDS_PER_REQUEST):
            for request in self._fetch(run_ids[start : start + _IDS_PER_REQUEST]):
                flag = flags.get(str(request.get("run_id")))
                if flag is not None and not flag.requested:
                    flag.set(
                        _text_or_none(request.get("requested_by")),
                        _text_or_none(request.get("reason")),
                    )
                    logger.info("cancel requested for run %s", request.get("run_id"))
                    newly_set += 1
        return newly_set

    def _fetch(self, run_ids: list[str]) -> list[dict[str, object]]:
        query = urllib.parse.urlencode([("run_id", run_id) for run_id in run_ids])
        # The scheme was checked in __init__ (http or https only).
        url = f"{self.api_url}/agent/cancel-requests?{query}"
        request = urllib.request.Request(url, headers=self._headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            body = json.loads(response.read())
        requests = body.get("requests", []) if isinstance(body, dict) else []
        return [item for item in requests if isinstance(item, dict)]

    def _loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                idle = not self._flags
            if idle:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                self.poll_once()
            except Exception as exc:  # thread boundary: never let the poller die
                self._note_failure(exc)
            else:
                if self._failing:
                    logger.info("cancel requests from %s are readable again", self.api_url)
                    self._failing = False
            self._stopped.wait(self._interval_s)

    def _note_failure(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            logger.warning(
                "cannot read cancel requests from %s (%s); cancelling waits until it answers",
                self.api_url,
                exc,
            )
        else:
            logger.debug("cancel poll failed: %s", exc)


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
