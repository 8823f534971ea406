"""Agno via openinference-instrumentation-agno: the conventions read its runs and steps;
this module reads how its runs fail. Run (``agent.run(...)``), a failed run's span is ERROR
with the status ``run status: error`` and its error text as ``output.value``; streamed
(``stream=True``), the run span **ends OK with no output** and only the model call that
failed says so. Either way the run failed with its last step's error, and has no answer.
A run cancelled (``asyncio`` cancellation, Ctrl-C: a ``BaseException``) ends its span with no
status and no output, where every other ending sets one: the run was cancelled.
Past the run's ``tool_call_limit`` Agno runs no more tools: it answers each call the model
asks for with its limit message (no tool span) and asks the model again. Each such call is
a failed tool step with that message, told by the next model call's messages, and the run
reached its step limit (``max_steps``, its answer kept). A call of a tool the agent does not
have is answered the same way (no tool span, Agno's message to the model): a failed step.
See tests/frameworks/SPANS.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import agno as AG
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import loads
from collector.rules.common import exception
from collector.span_values import error_text
from collector.told_calls import ToldCall
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "run_fields", "run_status", "derive_run_fields", "tool_calls_told"]

SCOPES = frozenset({AG.SCOPE})
_STATUS_ERROR = 2
_UNSET = 0
_STEP_KINDS = frozenset({OI.KIND_LLM, OI.KIND_TOOL})


def run_fields(span: SpanRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    given = span.attributes.get(OI.INPUT_VALUE)
    if isinstance(given, str) and given.endswith(AG.MESSAGE_LIST_END):
        # A list of messages (an earlier exchange, then the question), each one's text
        # followed by a newline: no telling where one ends. Its first model call tells the
        # question, the user message after the last answer.
        fields["task"] = None
    if span.status_code == _STATUS_ERROR:
        fields["final_answer"] = None  # a failed run's output is its error text, no answer
    return fields


def run_status(span: SpanRecord) -> str | None:
    # The instrumentor sets OK or ERROR on every ending it catches (``except Exception``);
    # a cancellation or Ctrl-C passes through it and leaves the run span UNSET.
    kind = str(span.attributes.get(OI.SPAN_KIND, "")).upper()
    if kind == OI.KIND_AGENT and span.status_code == _UNSET:
        return RunStatus.CANCELLED
    return None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The error of a failed run whose span does not say why (``run status: error``), and
    a streamed run that ended with no output on a failed step: failed."""
    if exception(run_span) is not None:
        return {}
    steps = [s for s in own if str(s.attributes.get(OI.SPAN_KIND, "")).upper() in _STEP_KINDS]
    last = max(steps, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is None or last.status_code != _STATUS_ERROR:
        if run_span.status_code != _STATUS_ERROR and any(_refused_at_limit(s) for s in steps):
            return {"status": RunStatus.MAX_STEPS}
        return {}
    cause = error_text(last, "")
    if run_span.status_code == _STATUS_ERROR:
        return {"error": cause}
    if OI.OUTPUT_VALUE not in run_span.attributes:
        return {"status": RunStatus.FAILED, "error": cause}
    return {}


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """The tool calls Agno answered without running them, told by the model call that
    followed: its messages after the last assistant one that are Agno's limit message (past
    the run's ``tool_call_limit``), or a tool message that records no outcome of a run
    (``tool_call_error`` neither true nor false: a tool the agent does not have, or a call
    it could not make), whose arguments the assistant message that asked holds."""
    if str(span.attributes.get(OI.SPAN_KIND, "")).upper() != OI.KIND_LLM:
        return []
    given = loads(span.attributes.get(OI.INPUT_VALUE))
    messages = given.get("messages") if isinstance(given, Mapping) else None
    if not isinstance(messages, list):
        return []
    messages = [m for m in messages if isinstance(m, Mapping)]
    last_assistant = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1
    )
    calls: list[ToldCall] = []
    for message in messages[last_assistant + 1 :]:
        text = message.get("content")
        if message.get("role") != "tool" or not isinstance(text, str):
            continue
        failed = message.get("tool_call_error")
        refused = failed is True and text.startswith(AG.TOOL_CALL_LIMIT_REACHED)
        if not refused and failed in (True, False):
            continue  # a tool that ran: its own span is the step
        call_id = message.get("tool_call_id")
        arguments = message.get("tool_args")
        if arguments is None and last_assistant >= 0:
            arguments = _asked_arguments(messages[last_assistant], call_id)
        calls.append(
            ToldCall(
                name=str(message.get("tool_name") or "tool"),
                arguments=arguments if isinstance(arguments, Mapping) else {},
                call_id=str(call_id) if call_id else None,
                result=None,
                error=text,
                before_ns=span.start_ns,
            )
        )
    return calls


def _refused_at_limit(span: SpanRecord) -> bool:
    return any(
        (call.error or "").startswith(AG.TOOL_CALL_LIMIT_REACHED) for call in tool_calls_told(span)
    )


def _asked_arguments(assistant: Mapping[str, Any], call_id: Any) -> Any:
    """The arguments the assistant message gave the tool call ``call_id`` (its JSON text
    parsed), or None."""
    for call in assistant.get("tool_calls") or []:
        if isinstance(call, Mapping) and call.get("id") == call_id:
            function = call.get("function")
            if isinstance(function, Mapping):
                arguments = loads(function.get("arguments"))
                return arguments if arguments is not None else function.get("arguments")
    return None
