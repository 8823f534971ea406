"""Exceptions the instrumentation raises on purpose.

::

    InstrumentationError
     └── RunCancelled      raised by run.step() once a cancel was requested

Everything else inside the instrumentation is caught and logged: tracing never
breaks the agent it traces. Bad arguments raise ``ValueError``.
"""

from __future__ import annotations

__all__ = ["InstrumentationError", "RunCancelled"]


class InstrumentationError(Exception):
    """Root of the exceptions the instrumentation raises into the agent."""


class RunCancelled(InstrumentationError):
    """A cancel was requested for the run; raised by ``run.step()``.

    Leaving ``agent_run`` with it ends the run with status ``cancelled`` (the
    span status stays UNSET: a cancel is not a failure) and re-raises it.
    """

    def __init__(
        self, run_id: str, *, requested_by: str | None = None, reason: str | None = None
    ) -> None:
        detail = f"run {run_id} was cancelled"
        if requested_by:
            detail += f" by {requested_by}"
        if reason:
            detail += f": {reason}"
        super().__init__(detail)
        self.run_id = run_id
        self.requested_by = requested_by
        self.reason = reason
