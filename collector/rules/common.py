"""Small readers the framework modules share. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.cut_values import cut_json_string
from collector.decode import SpanRecord
from collector.messages import loads
from collector.python_literals import literal_eval
from instrumentation import attributes as A

__all__ = [
    "exception",
    "exception_type",
    "event_attrs",
    "python_literal",
    "first_line",
    "js_error_line",
    "text_blocks",
    "descendants",
    "interrupted",
    "unanswered",
    "ended_unanswered",
    "fields_from_calls",
    "cut_off_genai_run",
    "cut_off_genai_tool",
    "ended_asking_for_tools",
    "CANCELLED_STEP_ERROR",
]

# What an interrupted step shows as its error (its run is ``cancelled``).
CANCELLED_STEP_ERROR = "cancelled"
# A run stopped from outside: asyncio's task cancellation, Ctrl-C, or JavaScript's
# ``AbortController.abort()`` (a DOMException named AbortError; the class names).
_INTERRUPTIONS = frozenset({"CancelledError", "KeyboardInterrupt", "AbortError"})
_STATUS_ERROR = 2


def exception(span: SpanRecord) -> tuple[str, str] | None:
    """(type, message) of the span's last ``exception`` event."""
    for event in reversed(span.events):
        if event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            return str(attrs.get(G.EXCEPTION_TYPE) or ""), str(attrs.get(G.EXCEPTION_MESSAGE) or "")
    return None


# A JavaScript error as OpenInference's JS instrumentations describe it: its message, a blank
# line, then its stack, whose first line is "{name}: {message}" and the rest "    at ..." frames.
_JS_STACK = re.compile(r"\n\n([^\n]+)\n\s+at ")


def js_error_line(text: str) -> str | None:
    """``{name}: {message}`` of a JavaScript error written as its message and its stack
    (what Node prints first for it), or None for text of another shape."""
    found = _JS_STACK.search(text)
    return found.group(1).strip() if found else None


def exception_type(span: SpanRecord) -> str:
    """The short class name of the span's last exception ('' when none)."""
    found = exception(span)
    return found[0].rsplit(".", 1)[-1] if found else ""


def event_attrs(span: SpanRecord, name: str) -> list[Mapping[str, Any]]:
    """The attributes of the span's events called ``name``, in order."""
    return [e.get("attributes") or {} for e in span.events if e.get("name") == name]


def python_literal(text: Any) -> Any:
    """A Python literal written with repr (LangChain's ``input_str``), or None."""
    if not isinstance(text, str):
        return None
    try:
        return literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def first_line(text: str) -> str:
    """The text up to a Python traceback that some instrumentations append."""
    head = text.split("Traceback (most recent call last)", 1)[0]
    return head.strip() or text.strip()


def text_blocks(value: Any) -> str | None:
    """The text of Bedrock-style content blocks ``[{"text": ...}, ...]`` (or plain text)."""
    parsed = loads(value)
    if isinstance(parsed, str):  # text, or blocks cut to a preview (a long output)
        return (cut_json_string(parsed, ("text",)) or parsed).strip() or None
    if isinstance(parsed, Mapping):
        parsed = [parsed]
    if not isinstance(parsed, Iterable):
        return None
    texts = [str(b["text"]) for b in parsed if isinstance(b, Mapping) and b.get("text")]
    return "\n".join(texts).strip() or None


def descendants(span: SpanRecord, trace_spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """Every span below ``span`` in its trace (a parent cycle is walked once)."""
    children: dict[str, list[SpanRecord]] = {}
    for other in trace_spans:
        if other.parent_span_id and other.trace_id == span.trace_id:
            children.setdefault(other.parent_span_id, []).append(other)
    found: list[SpanRecord] = []
    stack, seen = [span.span_id], {span.span_id}
    while stack:
        for child in children.get(stack.pop(), []):
            if child.span_id not in seen:
                seen.add(child.span_id)
                found.append(child)
                stack.append(child.span_id)
    return found


def interrupted(span: SpanRecord) -> bool:
    """The span failed on a cancellation or Ctrl-C: its exception, or the class its status
    description starts with (``CancelledError()``, ``asyncio.exceptions.CancelledError``)."""
    if span.status_code != _STATUS_ERROR:
        return False  # AutoGen's agent span carries a CancelledError event on success
    if exception_type(span) in _INTERRUPTIONS:
        return True
    head = span.status_message.strip().split(":", 1)[0].split("(", 1)[0].strip()
    return head.rsplit(".", 1)[-1] in _INTERRUPTIONS


def unanswered(span: SpanRecord, answer_keys: Iterable[str]) -> bool:
    """A model call that ended with neither an error nor any of the keys its instrumentation
    sets once the response arrived: it was cut off (the frameworks whose spans end quietly
    on a cancellation: pydantic-ai, the OpenAI Agents SDK, ADK)."""
    attrs = span.attributes
    return span.status_code != _STATUS_ERROR and not any(key in attrs for key in answer_keys)


def ended_unanswered(
    run_span: SpanRecord, calls: Iterable[SpanRecord], answer_keys: Iterable[str]
) -> bool:
    """A run that ended without an error on a model call that never got its response: it
    was cancelled (its framework ended the spans without recording why)."""
    if run_span.status_code == _STATUS_ERROR:
        return False
    last = max(calls, key=lambda s: (s.start_ns, s.end_ns), default=None)
    return last is not None and unanswered(last, tuple(answer_keys))


def fields_from_calls(
    run_span: SpanRecord,
    calls: list[SpanRecord],
    *,
    task_of: Callable[[SpanRecord], str | None],
    answer_of: Callable[[SpanRecord], str | None],
    requested_of: Callable[[SpanRecord], str | None],
    used_of: Callable[[SpanRecord], str | None],
) -> dict[str, Any]:
    """What a run's own model calls (in order) tell, for a framework with keys of its own:
    the first task one was given, the answer of the last that got one (not for a failed
    run), the first model asked for and the last that answered."""
    fields: dict[str, Any] = {}
    task = next((t for s in calls if (t := task_of(s))), None)
    if task:
        fields["task"] = task
    answered = [s for s in calls if s.status_code != _STATUS_ERROR]
    if answered and run_span.status_code != _STATUS_ERROR:
        answer = answer_of(answered[-1])
        if answer is not None:
            fields["final_answer"] = answer
    requested = [m for s in calls if (m := requested_of(s))]
    if requested:
        fields["model_requested"] = requested[0]
    used = [m for s in answered if (m := used_of(s))]
    if used:
        fields["model_used"] = used[-1]
    return fields


def cut_off_genai_run(span: SpanRecord) -> bool:
    """An ``invoke_agent`` span (GenAI keys, sensitive data on) that recorded its input at
    the start and neither its output nor an error at the end: a cancellation or Ctrl-C went
    through a framework that sets them on every ending it catches (``except Exception``:
    Semantic Kernel, Microsoft Agent Framework)."""
    attrs = span.attributes
    return (
        span.status_code != _STATUS_ERROR
        and attrs.get(A.GEN_AI_OPERATION_NAME) == "invoke_agent"
        and A.GEN_AI_INPUT_MESSAGES in attrs
        and A.GEN_AI_OUTPUT_MESSAGES not in attrs
    )


def cut_off_genai_tool(span: SpanRecord) -> bool:
    """An ``execute_tool`` span that recorded its arguments at the start and neither its
    result nor an error at the end: cut off by a cancellation (see cut_off_genai_run)."""
    attrs = span.attributes
    return (
        span.status_code != _STATUS_ERROR
        and A.GEN_AI_TOOL_CALL_ARGUMENTS in attrs
        and A.GEN_AI_TOOL_CALL_RESULT not in attrs
    )


def ended_asking_for_tools(
    own: Iterable[SpanRecord],
    is_call: Callable[[SpanRecord], bool],
    asked_tools: Callable[[SpanRecord], bool],
) -> bool:
    """The run's last model call (by end) asked for tools and no tool span started after it:
    its framework stopped calling tools at its limit (Semantic Kernel's
    ``maximum_auto_invoke_attempts``, Agent Framework's ``max_iterations``)."""
    spans = list(own)
    calls = [s for s in spans if is_call(s) and s.status_code != _STATUS_ERROR]
    last = max(calls, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is None or not asked_tools(last):
        return False
    tools = (s for s in spans if s.attributes.get(A.GEN_AI_OPERATION_NAME) == "execute_tool")
    return not any(tool.start_ns >= last.end_ns for tool in tools)
