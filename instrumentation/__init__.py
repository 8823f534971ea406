"""agent-audit instrumentation: trace an agent's runs and steps with OpenTelemetry.

::

    from instrumentation import agent_run, configure, traced_tool

    configure()  # OTLP to the local collector, unless the app set up OpenTelemetry

    @traced_tool
    def docker_ps(all: bool = False) -> str: ...

    with agent_run("why did web-1 restart?", agent_name="ops") as run:
        with run.step("think", model="qwen2.5-coder") as step:
            step.set_tokens(input_tokens=812, output_tokens=64)
        docker_ps(all=True)
        run.finish(final_answer="web-1 ran out of memory")

Imports only the standard library and OpenTelemetry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instrumentation.auto import instrument, uninstrument
    from instrumentation.errors import RunCancelled
    from instrumentation.run import RunHandle, agent_run, current_run
    from instrumentation.setup import configure, shutdown
    from instrumentation.step import StepHandle
    from instrumentation.tools import tool_step, traced_tool

__all__ = [
    "RunCancelled",
    "RunHandle",
    "StepHandle",
    "agent_run",
    "configure",
    "current_run",
    "instrument",
    "shutdown",
    "tool_step",
    "traced_tool",
    "uninstrument",
]

# Where each public name lives, imported at its first use: a process that needs
# only a submodule (the collector reads ``attributes``, ``env``, ``security``)
# then does without the OpenTelemetry SDK and exporters.
_HOMES = {
    "RunCancelled": "instrumentation.errors",
    "RunHandle": "instrumentation.run",
    "StepHandle": "instrumentation.step",
    "agent_run": "instrumentation.run",
    "configure": "instrumentation.setup",
    "current_run": "instrumentation.run",
    "instrument": "instrumentation.auto",
    "shutdown": "instrumentation.setup",
    "tool_step": "instrumentation.tools",
    "traced_tool": "instrumentation.tools",
    "uninstrument": "instrumentation.auto",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'instrumentation' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later reads are plain lookups
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
