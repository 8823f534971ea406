"""Tool calls as steps: ``tool_step()`` and the ``@traced_tool`` decorator.

Inside a run, a tool call is a ``tool_call`` step of ``current_run()``;
outside any run it is a standalone ``execute_tool {tool}`` span (no
``agent_run.id``), so a tool used on its own is still recorded.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from instrumentation import setup
from instrumentation.run import current_run
from instrumentation.step import StepHandle, step_span_name, step_start_attributes

__all__ = ["tool_step", "traced_tool"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def tool_step(name: str, args: Any = None, *, tool_call_id: str | None = None) -> StepHandle:
    """A tool-call step of the current run (or a standalone tool span outside a run).

    Use it as a context manager; raises RunCancelled inside a cancelled run.
    """
    run = current_run()
    if run is not None:
        return run.step("tool_call", tool_name=name, tool_args=args, tool_call_id=tool_call_id)
    attributes = step_start_attributes(
        "tool_call", run_id=None, tool_name=name, tool_args=args, tool_call_id=tool_call_id
    )
    name_of_span = step_span_name("tool_call", tool_name=name, model=None)
    return StepHandle(setup.tracer(), None, name_of_span, attributes)


def _arguments_recorder(func: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Maps a call's arguments to ``{parameter: value}`` (``self``/``cls`` left out)."""
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    skip_first = False
    if signature is not None:
        parameters = list(signature.parameters)
        skip_first = bool(parameters) and parameters[0] in ("self", "cls")

    def record(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if signature is None:
            return {"args": list(args), "kwargs": kwargs}
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return {"args": list(args), "kwargs": kwargs}  # the call will raise on its own
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        if skip_first:
            arguments.pop(next(iter(signature.parameters)), None)
        return arguments

    return record


@overload
def traced_tool(func: F, /) -> F: ...


@overload
def traced_tool(*, name: str | None = None) -> Callable[[F], F]: ...


def traced_tool(func: Any = None, *, name: str | None = None) -> Any:
    """Record every call of a (sync or async) function as a tool-call step.

    Arguments (bound to the signature, JSON-encoded) and the result are
    recorded; an exception is recorded on the step and re-raised. ``name``
    defaults to the function's ``__name__``. Usable as ``@traced_tool`` or
    ``@traced_tool(name="docker_ps")``.
    """

    def decorate(function: F) -> F:
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise ValueError("traced_tool cannot decorate a generator: use tool_step inside it")
        tool_name = str(name or getattr(function, "__name__", "tool"))
        record_arguments = _arguments_recorder(function)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                with tool_step(tool_name, record_arguments(*args, **kwargs)) as step:
                    result = await function(*args, **kwargs)
                    step.set_result(result)
                    return result

            return call_async  # type: ignore[return-value]

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            with tool_step(tool_name, record_arguments(*args, **kwargs)) as step:
                result = function(*args, **kwargs)
                step.set_result(result)
                return result

        return call  # type: ignore[return-value]

    if func is not None:
        if not callable(func):
            raise ValueError("traced_tool() takes a function, or name= as a keyword")
        return decorate(func)
    return decorate
