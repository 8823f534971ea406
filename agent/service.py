"""The agent service: runs submitted tasks in a bounded worker pool.

At most ``max_concurrent`` runs execute at once; a submission beyond that is
refused at once with :class:`ServiceBusy` (the HTTP layer answers 429), never
queued without bound. :func:`configure_tracing` sets up the instrumentation the
way ``agent-audit agent`` runs it: spans to the collector, with an on-disk
spool so a collector that is down loses nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from agent.errors import AgentError
from agent.llm import ChatModel
from agent.loop import RunOutcome, RunRequest, run_task
from agent.registry import ToolRegistry, default_registry
from agent.settings import AgentSettings
from agent.toolbox import Toolbox
from instrumentation import configure
from instrumentation.cancel import CancelFlag
from ssh_tools.connection import SSHConnection
from ssh_tools.tools import ServerTools

__all__ = ["AgentService", "RunTicket", "ServiceBusy", "configure_tracing", "import_tool_modules"]

logger = logging.getLogger(__name__)


class ServiceBusy(AgentError):
    """As many runs as allowed are executing; ``retry_after_s`` is a hint for the caller."""

    def __init__(self, active: int, *, retry_after_s: int = 5) -> None:
        runs = "1 run" if active == 1 else f"{active} runs"
        super().__init__(f"the agent is running {runs}, the most it runs at once; retry later")
        self.active = active
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RunTicket:
    """A submitted run: its id as soon as it starts, how it ends, and a way to stop it."""

    started: Future[str]
    outcome: Future[RunOutcome]
    stop: CancelFlag

    def cancel(self, *, requested_by: str, reason: str) -> None:
        """End the run as ``cancelled`` at its next step boundary (the first call wins)."""
        self.stop.set(requested_by, reason)


class AgentService:
    """Owns the model client, the tools and the worker pool."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        registry: ToolRegistry | None = None,
        server_tools: ServerTools | None = None,
        model: ChatModel | None = None,
    ) -> None:
        self.settings = settings
        if server_tools is None and settings.ssh is not None:
            server_tools = ServerTools(SSHConnection(settings.ssh))
        self.toolbox = Toolbox(
            registry=registry if registry is not None else default_registry,
            server_tools=server_tools,
            max_result_chars=settings.max_tool_result_chars,
        )
        self.model = model or ChatModel(settings)
        self._pool = ThreadPoolExecutor(
            max_workers=settings.max_concurrent, thread_name_prefix="agent-run"
        )
        self._slots = threading.BoundedSemaphore(settings.max_concurrent)
        self._active = 0
        self._active_lock = threading.Lock()
        self._closed = False

    @property
    def active_runs(self) -> int:
        """Runs executing now."""
        with self._active_lock:
            return self._active

    def submit(self, request: RunRequest) -> RunTicket:
        """Start ``request`` in a worker; raises :class:`ServiceBusy` at the concurrency limit."""
        if self._closed:
            raise AgentError("the agent service is shutting down")
        if not self._slots.acquire(blocking=False):
            raise ServiceBusy(self.settings.max_concurrent)
        with self._active_lock:
            self._active += 1
        started: Future[str] = Future()
        stop = CancelFlag()
        try:
            outcome = self._pool.submit(self._execute, request, started, stop)
        except RuntimeError:  # the pool was shut down meanwhile
            self._release()
            raise AgentError("the agent service is shutting down") from None
        return RunTicket(started=started, outcome=outcome, stop=stop)

    def close(self, *, wait: bool = True) -> None:
        """Stop taking runs; with ``wait``, let the running ones finish."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self.model.close()
        if self.toolbox.server_tools is not None:
            self.toolbox.server_tools.close()

    def _execute(self, request: RunRequest, started: Future[str], stop: CancelFlag) -> RunOutcome:
        try:
            outcome = run_task(
                request,
                settings=self.settings,
                model=self.model,
                toolbox=self.toolbox,
                on_start=started.set_result,
                stop=stop,
            )
            if not started.done():
                started.set_exception(AgentError(outcome.error or "the run did not start"))
            return outcome
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            self._release()

    def _release(self) -> None:
        with self._active_lock:
            self._active -= 1
        self._slots.release()


def configure_tracing(settings: AgentSettings) -> None:
    """Set up the instrumentation for the service (endpoints from ``OTEL_*``/``AGENT_AUDIT_*``).

    The spool directory is created here so a bad data directory stops start-up.
    """
    spool_dir = settings.spool_dir
    if spool_dir is not None:
        try:
            spool_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AgentError(f"cannot create the spool directory {spool_dir}: {exc}") from None
    configure(service_name="agent-audit-agent", spool_dir=spool_dir, token=settings.token)


def import_tool_modules(names: tuple[str, ...]) -> None:
    """Import the modules that register Python tools; a failure names the module.

    The working directory is searched too (after the installed packages), as
    ``python -m`` would: the console script alone does not put it on the path.
    """
    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise AgentError(f"cannot import tool module {name!r}: {exc}") from exc
