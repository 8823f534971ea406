"""Haystack via openinference-instrumentation-haystack: every component's ``run`` is a span
named ``{class}.run``, an Agent a CHAIN like any other, and the tools an ``Agent`` runs have
no span at all. See tests/frameworks/SPANS.md.

- runs: an Agent component's span (its class named ``...Agent``), and a trace's root CHAIN
  (a ``Pipeline.run``, or a component run on its own); other CHAIN components are no runs;
- messages are the ChatMessage reprs inside ``input.value`` / ``output.value``
  (collector/rules/haystack_reprs.py): the run's task is the user message that opened its
  turn, its answer the Agent's ``last_message`` (a pipeline's: that of the agent or chat
  generator it ends on);
- tools: the tool results a model call was sent (those after the conversation's last
  assistant message), and those at the end of an Agent's output that no model call saw
  (an exit on a tool), are steps (collector/message_tools.py);
- a model call's finish reasons are in its replies' meta.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collector.conventions import haystack as H
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import loads, turn_user_text
from collector.rules.common import exception, python_literal
from collector.rules.haystack_reprs import chat_message
from collector.told_calls import DERIVED_FROM, ToldCall
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "span_class", "run_fields", "run_status", "step_fields", "tool_calls_told"]

SCOPES = frozenset({H.SCOPE})
_STATUS_ERROR = 2


def span_class(span: SpanRecord) -> str | None:
    attrs = span.attributes
    if DERIVED_FROM in attrs:  # a tool call its messages told (collector/message_tools.py)
        return "tool_call"
    kind = attrs.get(OI.SPAN_KIND)
    if not isinstance(kind, str) or kind.upper() != OI.KIND_CHAIN:
        return None  # LLM, RETRIEVER, EMBEDDING, RERANKER: the conventions' reading
    if _is_agent(span) or span.parent_span_id is None:
        return "run"
    return "other"  # a prompt builder, a router, a tool invoker: the run's plumbing


def _is_agent(span: SpanRecord) -> bool:
    owner, _, method = span.name.rpartition(".")
    return method in H.RUN_METHODS and owner.endswith(H.AGENT_CLASS_SUFFIX)


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """Task and answer from the messages; both None when none is read, so that the run's
    model calls tell them (the generic reading would show the reprs' JSON)."""
    attrs = span.attributes
    given = loads(attrs.get(OI.INPUT_VALUE))
    task = None
    if isinstance(given, Mapping):
        task = turn_user_text(_messages(given.get(H.MESSAGES))) or _pipeline_task(given)
    answer = None
    if span.status_code != _STATUS_ERROR and _exit_reason(span) != H.EXIT_MAX_STEPS:
        answer = _answer(loads(attrs.get(OI.OUTPUT_VALUE)))
    return {"task": task, "final_answer": answer}


def run_status(span: SpanRecord) -> str | None:
    """``max_steps`` when the Agent stopped at ``max_agent_steps`` (its ``exit_reason``)."""
    return RunStatus.MAX_STEPS if _exit_reason(span) == H.EXIT_MAX_STEPS else None


def _exit_reason(span: SpanRecord) -> Any:
    output = loads(span.attributes.get(OI.OUTPUT_VALUE))
    return output.get(H.EXIT_REASON) if isinstance(output, Mapping) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "think":
        return {}
    output = span.attributes.get(OI.OUTPUT_VALUE)
    reasons = H.FINISH_REASON.findall(output) if isinstance(output, str) else []
    return {"finish_reasons": json.dumps(reasons)} if reasons else {}


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """The tool calls whose results a model call was sent (they ran just before it), or,
    on an Agent's span, those it ended on with no model call after them."""
    attrs = span.attributes
    kind = attrs.get(OI.SPAN_KIND)
    if kind == OI.KIND_LLM:
        given = loads(attrs.get(OI.INPUT_VALUE))
        before_ns = span.start_ns
    elif kind == OI.KIND_CHAIN and _is_agent(span):
        if span.status_code == _STATUS_ERROR:
            return _raised_tool(span)
        given = loads(attrs.get(OI.OUTPUT_VALUE))
        before_ns = span.end_ns
    else:
        return []
    if not isinstance(given, Mapping):
        return []
    messages = _messages(given.get(H.MESSAGES))
    last_assistant = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1
    )
    calls: list[ToldCall] = []
    in_source = kind == OI.KIND_CHAIN
    for message in messages[last_assistant + 1 :]:
        for result in message.get("tool_results", []):
            calls.append(_told(result, before_ns, in_source))
    return calls


def _raised_tool(span: SpanRecord) -> list[ToldCall]:
    """The tool an Agent failed on (``raise_on_tool_invocation_failure=True``): no message
    holds the call, its exception names it and its arguments."""
    found = exception(span)
    failure = H.TOOL_FAILURE.match(found[1]) if found else None
    if failure is None:
        return []
    arguments = python_literal(failure.group("args"))
    return [
        ToldCall(
            name=failure.group("name"),
            arguments=arguments if isinstance(arguments, dict) else {},
            call_id=None,
            result=None,
            error=found[1] if found else None,
            before_ns=span.end_ns,
            in_source=True,
        )
    ]


def _told(result: Mapping[str, Any], before_ns: int, in_source: bool) -> ToldCall:
    text = result.get("result")
    failed = bool(result.get("error"))
    return ToldCall(
        name=str(result.get("name") or "tool"),
        arguments=result.get("arguments") if result.get("arguments") is not None else {},
        call_id=str(result["id"]) if result.get("id") else None,
        result=None if failed else text,
        error=(str(text) if text else "error") if failed else None,
        before_ns=before_ns,
        in_source=in_source,
    )


def _messages(reprs: Any) -> list[dict[str, Any]]:
    if not isinstance(reprs, list):
        return []
    return [m for m in map(chat_message, reprs) if m is not None]


def _answer(output: Any) -> str | None:
    """An Agent's ``last_message`` (its text, or the result of the tool it ended on), a
    generator's last reply, or, for a pipeline, that of the last component output holding
    one."""
    if not isinstance(output, Mapping):
        return None
    last = chat_message(output.get(H.LAST_MESSAGE))
    if last is None:
        last = next(iter(reversed(_messages(output.get(H.MESSAGES)))), None)
    if last is None:
        last = next(iter(reversed(_messages(output.get(H.REPLIES)))), None)
    if last is not None:
        return _text(last)
    for value in reversed(list(output.values())):
        found = _answer(value) if isinstance(value, Mapping) else None
        if found is not None:
            return found
    return None


def _text(message: Mapping[str, Any]) -> str | None:
    """A message's text, or the result of its last tool call (an Agent's exit on a tool)."""
    if isinstance(message.get("content"), str):
        return str(message["content"])
    results = message.get("tool_results") or []
    if results and not results[-1].get("error") and results[-1].get("result") is not None:
        result = results[-1]["result"]
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    return None


def _pipeline_task(given: Mapping[str, Any]) -> str | None:
    """A pipeline's one text input (``{"data": {"retriever": {"query": "..."}}}``), else
    its inputs as JSON."""
    data = given.get(H.PIPELINE_DATA)
    if not isinstance(data, Mapping) or not data:
        return None
    texts = list(_texts(data))
    if len(texts) == 1:
        return texts[0]
    return json.dumps(data, ensure_ascii=False, default=str)


def _texts(value: Any, depth: int = 0) -> list[str]:
    if isinstance(value, str):
        message = chat_message(value)
        if message is not None:
            content = message.get("content")
            return [content] if message.get("role") == "user" and isinstance(content, str) else []
        return [value]
    if depth > 8:
        return []
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v, depth + 1)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v, depth + 1)]
    return []
