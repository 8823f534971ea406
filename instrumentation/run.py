"""agent_run(): one run of an agent as a span; its steps as child spans.

Usable three ways, sync or async::

    with agent_run("why did web-1 restart?", agent_name="ops") as run: ...
    async with agent_run("...") as run: ...

    @agent_run(agent_name="ops")          # task: the call's ``task`` argument,
    def investigate(task: str) -> str:    # else the function's qualified name
        run = current_run()
        ...

Leaving the block normally ends the run ``completed`` (or as ``run.finish()``
said); an exception ends it ``failed`` (``RunCancelled`` and asyncio
cancellation: ``cancelled``) and is re-raised.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar, Unpack, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

from instrumentation import attributes as attr
from instrumentation import setup
from instrumentation.attributes import FINISH_STATUSES, RunStatus
from instrumentation.cancel import CancelFlag
from instrumentation.encoding import (
    clean_text,
    is_blank,
    json_text,
    name_text,
    plain_str,
    result_text,
    safe_text,
)
from instrumentation.errors import RunCancelled
from instrumentation.scope import Scope
from instrumentation.span_owner import SpanOwner, record_failure
from instrumentation.step import StepHandle, step_span_name, step_start_attributes

__all__ = ["RunHandle", "RunOptions", "RunScope", "agent_run", "current_run"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


_current_run: contextvars.ContextVar[RunHandle | None] = contextvars.ContextVar(
    "agent_audit_current_run", default=None
)


class RunOptions(TypedDict, total=False):
    """The keyword arguments of ``agent_run()``: what is known about a run at its start."""

    agent_name: str | None  # gen_ai.agent.name; names the span ``invoke_agent {agent_name}``
    source: str | None  # what started the run: api, cli, n8n, ...
    triggered_by: str | None  # who started it
    model_requested: str | None  # gen_ai.request.model
    backend: str | None  # the machine or pool serving the model
    working_directory: str | None
    metadata: Any  # stored as JSON text (a str is kept as is)
    provider: str | None  # gen_ai.provider.name: the model server (ollama, vllm, openai)


def _check_run_options(options: RunOptions, caller: str) -> None:
    """The TypeError Python raises for a misspelt keyword, which ``**options`` would accept."""
    for name in options:
        if name not in RunOptions.__optional_keys__:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")


def current_run() -> RunHandle | None:
    """The run whose ``agent_run`` block (or decorated call) is executing here, if any."""
    return _current_run.get()


class RunHandle(SpanOwner):
    """A run in progress: its id, its steps, and how it ends."""

    def __init__(self, task: str, **options: Unpack[RunOptions]) -> None:
        _check_run_options(options, "RunHandle")
        agent_name = options.get("agent_name")
        self.id: str = str(uuid.uuid4())
        self.task = task
        self.agent_name = agent_name
        self._model_requested = options.get("model_requested")
        self._model_used: str | None = None
        self._provider = options.get("provider")
        self._status: str | None = None
        self._final_answer: str | None = None
        self._finish_error: BaseException | str | None = None
        self._ended = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._tokens_lock = threading.Lock()
        self._cancel = CancelFlag()
        self._tracer = setup.tracer()
        attributes: dict[str, Any] = {
            attr.GEN_AI_OPERATION_NAME: attr.OP_INVOKE_AGENT,
            attr.RUN_ID: self.id,
            attr.RUN_TASK: clean_text(task) if isinstance(task, str) else safe_text(task),
            attr.RUN_STATUS: RunStatus.RUNNING,
        }
        optional = {
            attr.GEN_AI_AGENT_NAME: agent_name,
            attr.RUN_SOURCE: options.get("source"),
            attr.RUN_TRIGGERED_BY: options.get("triggered_by"),
            attr.GEN_AI_REQUEST_MODEL: self._model_requested,
            attr.RUN_BACKEND: options.get("backend"),
            attr.RUN_WORKING_DIRECTORY: options.get("working_directory"),
            attr.GEN_AI_PROVIDER_NAME: self._provider,
        }
        # safe_text: a value whose __str__ raises must not stop the agent's run.
        attributes.update({k: safe_text(v) for k, v in optional.items() if v is not None})
        metadata = options.get("metadata")
        if metadata is not None:
            attributes[attr.RUN_METADATA] = (
                clean_text(metadata) if isinstance(metadata, str) else json_text(metadata)
            )
        name = (
            f"{attr.RUN_SPAN_PREFIX} {name_text(agent_name)}"
            if not is_blank(agent_name)
            else attr.RUN_SPAN_PREFIX
        )
        self._span: Span = trace.INVALID_SPAN
        try:
            self._span = self._tracer.start_span(name, attributes=attributes)
        except Exception:
            logger.debug("could not start run span", exc_info=True)
        self._step_parent = trace.set_span_in_context(self._span)
        self._poller = setup.cancel_poller()
        if self._poller is not None:
            self._poller.watch(self.id, self._cancel)

    # --- reading -----------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The run's trace id, 32 lowercase hex digits."""
        return format(self._span.get_span_context().trace_id, "032x")

    @property
    def cancel_requested(self) -> bool:
        """True once the collector's API reported a cancel request for this run."""
        return self._cancel.requested

    @property
    def status(self) -> str:
        """``running`` until the run ends, then its final status."""
        if not self._ended:
            return RunStatus.RUNNING
        return self._status or RunStatus.COMPLETED

    # --- steps -------------------------------------------------------------
    def step(
        self,
        action_type: str,
        *,
        tool_name: str | None = None,
        tool_args: Any = None,
        tool_call_id: str | None = None,
        model: str | None = None,
    ) -> StepHandle:
        """A step of this run, to use as a context manager.

        ``action_type`` is one of tool_call, think, response, terminate.
        ``model`` names an LLM step (default: the run's model). Raises
        RunCancelled when a cancel was requested, ValueError for bad arguments.
        """
        if self._cancel.requested:
            raise RunCancelled(
                self.id, requested_by=self._cancel.requested_by, reason=self._cancel.reason
            )
        action_type = plain_str(action_type)
        if action_type == "think" and model is None:
            model = self._model_used or self._model_requested
        attributes = step_start_attributes(
            action_type,
            run_id=self.id,
            tool_name=tool_name,
            tool_args=tool_args,
            tool_call_id=tool_call_id,
            model=model,
            provider=self._provider if action_type == "think" else None,
        )
        name = step_span_name(action_type, tool_name=tool_name, model=model)
        return StepHandle(
            self._tracer, self._step_parent, name, attributes, on_end=self._add_tokens
        )

    # --- recording ---------------------------------------------------------
    def set_model_used(self, name: str) -> None:
        """The model that actually served the run (``gen_ai.response.model``)."""
        if is_blank(name):
            return
        self._model_used = safe_text(name)
        self._set(attr.GEN_AI_RESPONSE_MODEL, self._model_used)

    def finish(
        self,
        final_answer: Any = None,
        status: str = RunStatus.COMPLETED,
        *,
        error: BaseException | str | None = None,
    ) -> None:
        """Say how the run ends; it is recorded when the ``agent_run`` block exits.

        ``status``: completed, failed, max_steps or cancelled. A later call
        replaces an earlier one. An exception leaving the block still wins.
        """
        status = plain_str(status)
        if not isinstance(status, str) or status not in FINISH_STATUSES:
            raise ValueError(
                f"unknown run status {safe_text(status)!r}; expected one of {FINISH_STATUSES}"
            )
        if self._ended:
            logger.debug("finish() after run %s ended; ignored", self.id)
            return
        self._status = status
        self._final_answer = None if final_answer is None else result_text(final_answer)
        self._finish_error = error

    # --- internals ---------------------------------------------------------
    def _add_tokens(self, input_tokens: int, output_tokens: int) -> None:
        if input_tokens or output_tokens:
            with self._tokens_lock:
                self._input_tokens += input_tokens
                self._output_tokens += output_tokens

    def _end(self, exc: BaseException | None) -> None:
        if self._ended:
            return
        if exc is None:
            status = self._status or RunStatus.COMPLETED
            failure = self._finish_error if status == RunStatus.FAILED else None
            if status == RunStatus.FAILED and failure is None:
                failure = "run failed"
        elif isinstance(exc, RunCancelled | asyncio.CancelledError):
            status, failure = RunStatus.CANCELLED, None
        else:
            status, failure = RunStatus.FAILED, exc
        self._status = status
        self._ended = True
        span = self._span
        try:
            span.set_attribute(attr.RUN_STATUS, status)
            if self._final_answer is not None:
                span.set_attribute(attr.RUN_FINAL_ANSWER, self._final_answer)
            if self._input_tokens or self._output_tokens:
                span.set_attribute(attr.GEN_AI_USAGE_INPUT_TOKENS, self._input_tokens)
                span.set_attribute(attr.GEN_AI_USAGE_OUTPUT_TOKENS, self._output_tokens)
            if failure is not None:
                record_failure(span, failure, attr.RUN_ERROR)
        except Exception:
            logger.debug("could not record the end of run %s", self.id, exc_info=True)
        try:
            span.end()  # whatever failed above, the run is exported
        except Exception:
            logger.debug("could not end run span", exc_info=True)
        finally:
            if self._poller is not None:
                self._poller.unwatch(self.id)


class RunScope(Scope[RunHandle]):
    """What ``agent_run(...)`` returns: a context manager (sync and async) and a decorator."""

    def __init__(self, task: str | None, options: RunOptions) -> None:
        self._task = task
        self._options = options
        self._active: list[tuple[RunHandle, contextvars.Token[Any], object]] = []

    def _open(self) -> RunHandle:
        if self._task is None:
            raise ValueError("agent_run() needs a task when used as a context manager")
        run = RunHandle(self._task, **self._options)
        run_token = _current_run.set(run)
        context_token = otel_context.attach(run._step_parent)
        self._active.append((run, run_token, context_token))
        return run

    def _close(self, exc: BaseException | None) -> None:
        run, run_token, context_token = self._active.pop(self._entered_here())
        try:
            run._end(exc)
        finally:
            try:
                otel_context.detach(context_token)  # type: ignore[arg-type]
                _current_run.reset(run_token)
            except Exception:  # a token from another context: never fail the agent
                logger.debug("could not restore context after run %s", run.id, exc_info=True)

    def _entered_here(self) -> int:
        """Index in ``_active`` of the run this context entered.

        One scope object entered by several threads or asyncio tasks at once
        closes each one's own run, not the latest entered anywhere.
        """
        here = _current_run.get()
        for index in range(len(self._active) - 1, -1, -1):
            if self._active[index][0] is here:
                return index
        return len(self._active) - 1

    def __call__(self, func: F) -> F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise ValueError("agent_run cannot decorate a generator: use it inside instead")
        task_of_call = _task_resolver(func, self._task)
        options = self._options

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with RunScope(task_of_call(args, kwargs), options):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run_sync(*args: Any, **kwargs: Any) -> Any:
            with RunScope(task_of_call(args, kwargs), options):
                return func(*args, **kwargs)

        return run_sync  # type: ignore[return-value]


def _task_resolver(
    func: Callable[..., Any], task: str | None
) -> Callable[[tuple[Any, ...], dict[str, Any]], str]:
    if task is not None:
        fixed: str = task
        return lambda args, kwargs: fixed
    fallback = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", "agent"))
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    if signature is None or "task" not in signature.parameters:
        return lambda args, kwargs: fallback

    def from_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            return fallback  # the call itself will raise the TypeError
        value = bound.arguments.get("task", signature.parameters["task"].default)
        if value is inspect.Parameter.empty or value is None:
            return fallback
        return value if isinstance(value, str) else result_text(value)

    return from_argument


@overload
def agent_run(task: F, /) -> F: ...


@overload
def agent_run(task: str | None = None, **options: Unpack[RunOptions]) -> RunScope: ...


def agent_run(task: Any = None, **options: Unpack[RunOptions]) -> Any:
    """One agent run: ``with agent_run(task) as run``, ``async with``, or a decorator.

    ``task`` is what the agent was asked. As a decorator (``@agent_run(...)``
    or bare ``@agent_run``) the task may be left out: it is then the decorated
    call's ``task`` argument if the function has one, else the function's
    qualified name. The keyword arguments are those of :class:`RunOptions`:
    agent_name, source, triggered_by, model_requested, backend,
    working_directory, metadata (stored as JSON text) and provider (the model
    server, ``gen_ai.provider.name``: ollama, vllm, openai).
    """
    _check_run_options(options, "agent_run")
    if callable(task):  # bare @agent_run
        return RunScope(None, options)(task)
    if task is not None and not isinstance(task, str):
        raise ValueError(f"task must be a string, got {type(task).__name__}")
    return RunScope(task, options)
