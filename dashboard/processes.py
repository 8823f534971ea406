"""Supervising child processes for ``agent-audit dashboard`` and ``agent-audit up``.

SIGINT (Ctrl-C) and SIGTERM ask every child to stop with SIGTERM, newest first;
a child still running after ``stop_timeout_s`` is killed. When one child exits
by itself, the others are stopped too, so nothing is left running half-way.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

__all__ = ["ChildExit", "Supervisor"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildExit:
    """A child that ended: its name and exit code (negative: killed by that signal)."""

    name: str
    code: int


class Supervisor:
    """Starts children, waits for a stop signal or a child's exit, stops the rest."""

    def __init__(self, *, stop_timeout_s: float = 15.0) -> None:
        self.stop_timeout_s = stop_timeout_s
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stop = threading.Event()

    @property
    def stop_requested(self) -> bool:
        """True once SIGINT/SIGTERM arrived or ``request_stop`` was called."""
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """Route SIGINT and SIGTERM to ``request_stop`` (main thread only)."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            logger.info("signal %s: stopping", signal.Signals(signum).name)
            self.request_stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def request_stop(self) -> None:
        """Make ``wait`` return; safe from a signal handler."""
        self._stop.set()

    def start(
        self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` as a child named ``name``."""
        process = subprocess.Popen(list(command), env=dict(env) if env is not None else None)
        self._children.append((name, process))
        logger.info("started %s (pid %s)", name, process.pid)
        return process

    def exited(self) -> ChildExit | None:
        """The first child found to have ended, if any."""
        for name, process in self._children:
            code = process.poll()
            if code is not None:
                return ChildExit(name, code)
        return None

    def wait(self, *, poll_interval_s: float = 0.2) -> ChildExit | None:
        """Block until a stop is requested (None) or a child ends (that child)."""
        while not self._stop.wait(poll_interval_s):
            ended = self.exited()
            if ended is not None:
                return ended
        return None

    def stop_all(self) -> dict[str, int]:
        """SIGTERM each child, newest first, waiting for each; kill any that hangs."""
        codes: dict[str, int] = {}
        for name, process in reversed(self._children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning(
                        "%s ignored SIGTERM for %.0f s; killing it", name, self.stop_timeout_s
                    )
                    process.kill()
            codes[name] = process.wait()
        return codes
