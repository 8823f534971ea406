"""One step of a run: a child span of the run span (tool call, LLM call, response, terminate)."""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from instrumentation import attributes as attr
from instrumentation.encoding import (
    clean_text,
    is_blank,
    json_text,
    name_text,
    plain_str,
    result_text,
    safe_repr,
    safe_text,
)
from instrumentation.errors import RunCancelled
from instrumentation.scope import Scope
from instrumentation.span_owner import SpanOwner, record_failure

__all__ = ["StepHandle", "step_span_name", "step_start_attributes"]

logger = logging.getLogger(__name__)

_OPERATION_BY_ACTION = {"tool_call": attr.OP_EXECUTE_TOOL, "think": attr.OP_CHAT}


def step_span_name(action_type: str, *, tool_name: str | None, model: str | None) -> str:
    """``execute_tool {tool}``, ``chat {model}``, or the action type itself."""
    action_type = plain_str(action_type)
    if action_type == "tool_call":
        return f"{attr.TOOL_SPAN_PREFIX} {name_text(tool_name)}"
    if action_type == "think":
        return (
            f"{attr.LLM_SPAN_PREFIX} {name_text(model)}"
            if not is_blank(model)
            else attr.LLM_SPAN_PREFIX
        )
    return action_type


def step_start_attributes(
    action_type: str,
    *,
    run_id: str | None,
    tool_name: str | None = None,
    tool_args: Any = None,
    tool_call_id: str | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Attributes a step span carries from its start (so its pending copy has them too)."""
    action_type = plain_str(action_type)
    if not isinstance(action_type, str) or action_type not in attr.ACTION_TYPES:
        raise ValueError(
            f"unknown action_type {safe_repr(action_type)}; "
            f"expected one of {', '.join(attr.ACTION_TYPES)}"
        )
    if action_type == "tool_call" and is_blank(tool_name):
        raise ValueError("a tool_call step needs a tool_name")
    attrs: dict[str, Any] = {attr.STEP_ACTION_TYPE: action_type}
    if run_id is not None:
        attrs[attr.RUN_ID] = run_id
    operation = _OPERATION_BY_ACTION.get(action_type)
    if operation is not None:
        attrs[attr.GEN_AI_OPERATION_NAME] = operation
    # safe_text: names an agent passes are labels; a broken __str__ must not raise.
    if not is_blank(tool_name):
        attrs[attr.GEN_AI_TOOL_NAME] = safe_text(tool_name)
    if tool_args is not None:
        attrs[attr.GEN_AI_TOOL_CALL_ARGUMENTS] = (
            clean_text(tool_args) if isinstance(tool_args, str) else json_text(tool_args)
        )
    if not is_blank(tool_call_id):
        attrs[attr.GEN_AI_TOOL_CALL_ID] = safe_text(tool_call_id)
    if not is_blank(model):
        attrs[attr.GEN_AI_REQUEST_MODEL] = safe_text(model)
    if not is_blank(provider):
        attrs[attr.GEN_AI_PROVIDER_NAME] = safe_text(provider)
    return attrs


# A count OTLP can carry (int64); a run's total of such counts stays far below it in practice.
_TOKEN_COUNT_MAX = 2**63 - 1


def token_count(key: str, value: Any) -> int | None:
    """``value`` as a token count: None, or an integer (numpy's too) in 0..int64 max.

    Raises ValueError for anything else, bool included.
    """
    if value is None:
        return None
    count: int | None = None
    if not isinstance(value, bool):
        try:
            count = operator.index(value)  # int, numpy.int64, any __index__ integer
        except Exception:
            count = None
    if count is None or not 0 <= count <= _TOKEN_COUNT_MAX:
        raise ValueError(
            f"{key} must be a non-negative integer up to {_TOKEN_COUNT_MAX}, got {safe_repr(value)}"
        )
    return count


class StepHandle(SpanOwner, Scope["StepHandle"]):
    """A step in progress; use it as a (sync or async) context manager.

    The span starts on entry and ends on exit. An exception leaving the block
    is recorded on the step (status ERROR, ``error.type``, an exception event,
    ``agent_step.error``) and re-raised. Setters never raise except
    ``ValueError`` for bad arguments.
    """

    __slots__ = (
        "action_type",
        "_tracer",
        "_parent",
        "_name",
        "_attributes",
        "_span",
        "_token",
        "_on_end",
        "_request_model",
        "_input_tokens",
        "_output_tokens",
    )

    def __init__(
        self,
        tracer: trace.Tracer,
        parent: Context | None,
        name: str,
        attributes: dict[str, Any],
        *,
        on_end: Callable[[int, int], None] | None = None,
    ) -> None:
        self.action_type: str = attributes[attr.STEP_ACTION_TYPE]
        self._tracer = tracer
        self._parent = parent
        self._name = name
        self._attributes = attributes
        self._span: Span = trace.INVALID_SPAN
        self._token: object | None = None
        self._on_end = on_end
        self._request_model = attributes.get(attr.GEN_AI_REQUEST_MODEL)
        self._input_tokens = 0
        self._output_tokens = 0

    # --- lifecycle ---------------------------------------------------------
    def _open(self) -> StepHandle:
        try:
            self._span = self._tracer.start_span(
                self._name, context=self._parent, attributes=self._attributes
            )
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        except Exception:
            logger.debug("could not start step span %s", self._name, exc_info=True)
        return self

    def _close(self, exc: BaseException | None) -> None:
        try:
            if exc is not None and not isinstance(exc, RunCancelled):
                self.set_error(exc)
            self._span.end()
        except Exception:
            logger.debug("could not end step span %s", self._name, exc_info=True)
        finally:
            if self._token is not None:
                try:
                    otel_context.detach(self._token)  # type: ignore[arg-type]
                except Exception:
                    logger.debug("context detach failed", exc_info=True)
                self._token = None
            if self._on_end is not None:
                self._on_end(self._input_tokens, self._output_tokens)

    # --- reading -----------------------------------------------------------
    @property
    def id(self) -> str:
        """The step's span id as 16 lowercase hex digits (the ``agent_steps.id``)."""
        return format(self._span.get_span_context().span_id, "016x")

    # --- recording ---------------------------------------------------------
    def set_result(self, result: Any) -> None:
        """The tool's result: a string is kept as is, anything else is JSON-encoded."""
        self._set(attr.GEN_AI_TOOL_CALL_RESULT, result_text(result))

    def set_thinking(self, text: str) -> None:
        """The model's reasoning text for this step."""
        self._set(attr.STEP_THINKING, result_text(text))

    def set_error(self, error: BaseException | str) -> None:
        """Mark the step failed: status ERROR, ``error.type``, ``agent_step.error``."""
        if not isinstance(error, BaseException | str):
            raise ValueError("set_error() takes an exception or a message")
        record_failure(self._span, error, attr.STEP_ERROR)

    def set_tokens(
        self, *, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> None:
        """Token usage of an LLM step (``gen_ai.usage.*``)."""
        pairs = (
            (attr.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
            (attr.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
        )
        counts = [token_count(key, value) for key, value in pairs]
        for (key, _), count in zip(pairs, counts, strict=True):
            if count is not None:
                self._set(key, count)
        # Kept for the run's totals; a second call replaces, it does not add.
        if counts[0] is not None:
            self._input_tokens = counts[0]
        if counts[1] is not None:
            self._output_tokens = counts[1]

    def set_model(self, name: str) -> None:
        """The model that answered (``gen_ai.response.model``); names the span if it had none."""
        if is_blank(name):
            return
        text = safe_text(name)
        self._set(attr.GEN_AI_RESPONSE_MODEL, text)
        if self._request_model is None and self.action_type == "think":
            self._request_model = text
            self._set(attr.GEN_AI_REQUEST_MODEL, text)
            try:
                self._span.update_name(f"{attr.LLM_SPAN_PREFIX} {name_text(text)}")
            except Exception:
                logger.debug("could not rename step span", exc_info=True)
