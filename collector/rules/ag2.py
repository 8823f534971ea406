"""AG2 (the ``autogen`` package of ``ag2`` 0.x, the AutoGen 0.2 line), traced by its own
``autogen.opentelemetry`` or by OpenInference's AG2 instrumentation. (AG2 1.x's ``Agent``,
traced by its ``TelemetryMiddleware`` under the same scope name, needs nothing of this: its
``invoke_agent`` is one ``Agent.ask``, read by the conventions.)

An AG2 agent works in a chat: ``initiate_chat`` has one agent talk to another (an
assistant asking for tools, a ``UserProxyAgent`` running them) until a termination
message or ``max_turns``; a group chat's manager picks speakers among several agents,
which hand over with ``transfer_to_{agent}_{n}`` tools. AG2's log reads as one
conversation, its task the opening message and its answer the chat's last message
(``ChatResult.summary``); so here:

- the chat is the run (native: the ``conversation {agent}`` span, named after the agent
  that opened it; OpenInference: ``{agent}.initiate_chat``); a chat opened inside a tool
  of another is a child run;
- each agent's reply (``invoke_agent {agent}`` / ``{agent}.generate_reply``) is one turn
  of that chat, no run: the model and tool calls below it are the chat's steps, in order;
  a reply asked for outside any chat (no parent span) is a run of its own;
- a hand-off is the ``transfer_to_...`` tool step, its result what AG2 returned;
- a tool that raised (AG2 hands the model ``Error: ...`` and goes on) is a failed step:
  native spans mark it with ``error.type`` alone (status UNSET, no result), its error
  (``ExecutionError``), its result the text AG2 sent the model (read from the next model
  call by the conventions);
- the chat's tokens are its model calls' (the native span's usage is the agents' running
  total since they were made, counting earlier chats too);
- a chat that ran all its ``max_turns`` rounds with its last message still asking for a
  tool (or answering one) is ``max_steps``, with AG2's reason and no answer. OpenInference's
  spans record neither the limit nor the history, but a chat that ended well with its last
  reply asking for a tool no one ran (or handing back a result no one read) was cut off:
  only a turn limit (``max_turns``, ``max_consecutive_auto_reply``) ends a chat there, as
  its agents stop on a reply with no tool call or on a termination message. It is
  ``max_steps`` too, with no answer.

See tests/frameworks/SPANS.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collector.conventions import ag2 as AG2
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, json_field, loads, message_text
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "run_status",
    "derive_run_fields",
    "step_fields",
]

SCOPES = frozenset({AG2.NATIVE_SCOPE, AG2.OPENINFERENCE_SCOPE})


def _is_chat(span: SpanRecord) -> bool:
    if span.scope_name == AG2.NATIVE_SCOPE:
        return span.attributes.get(AG2.SPAN_TYPE) == AG2.TYPE_CONVERSATION
    return (
        str(span.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_AGENT
        and AG2.RECIPIENT_NAME in span.attributes
    )


def _traces_chats(span: SpanRecord) -> bool:
    """AG2 0.x's tracer names its release as the scope's version; AG2 1.x's
    ``TelemetryMiddleware`` writes under the same scope name, with no version, and its
    ``invoke_agent`` is a whole ``Agent.ask``: a run, as the conventions read it."""
    major = span.scope_version.split(".", 1)[0]
    return major == "0"


def _is_turn(span: SpanRecord) -> bool:
    if span.scope_name == AG2.NATIVE_SCOPE:
        return _traces_chats(span) and span.attributes.get(AG2.SPAN_TYPE) in AG2.TURN_SPAN_TYPES
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_AGENT and not _is_chat(
        span
    )


def span_class(span: SpanRecord) -> str | None:
    if _is_chat(span):
        return "run"
    if _is_turn(span):
        # A reply on its own (``agent.generate_reply(messages)``) is the agent's run.
        return "run" if span.parent_span_id is None else "other"
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """A chat: its opening message and its last one; tokens from its model calls."""
    if not _is_chat(span):
        return {}
    fields: dict[str, Any] = {"input_tokens": None, "output_tokens": None}
    if span.scope_name == AG2.NATIVE_SCOPE:
        last = _last_message(span)
        if _stopped_at_max_turns(span):
            fields["final_answer"] = None  # cut off mid-work: no answer
            fields["error"] = AG2.MAX_TURNS_REACHED.format(span.attributes[AG2.MAX_TURNS])
        else:
            answer = message_text(last) if last is not None else None
            fields["final_answer"] = answer or None
        return fields
    message = json_field(span.attributes.get(OI.INPUT_VALUE), AG2.CHAT_INPUT_MESSAGE)
    if isinstance(message, Mapping):
        message = message.get(AG2.MESSAGE_CONTENT)
    if isinstance(message, str) and message:
        fields["task"] = message
    return fields


def run_status(span: SpanRecord) -> str | None:
    """``max_steps`` for a chat its turn limit stopped while work was under way."""
    return RunStatus.MAX_STEPS if _stopped_at_max_turns(span) else None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """An OpenInference chat its turn limit cut off: it ended well with no summary, its last
    reply (by end, among the chat's own) asking for a tool or handing back a tool's result.
    What it says holds for any of its replies stored so far: every reply of such a chat
    asks for a tool or answers one, and a chat that ended on an answer has a summary."""
    if run_span.scope_name != AG2.OPENINFERENCE_SCOPE or not _is_chat(run_span):
        return {}
    if run_span.status_code == 2 or run_span.attributes.get(OI.OUTPUT_VALUE):
        return {}
    replies = sorted(
        (s for s in own if s.parent_span_id == run_span.span_id and _is_turn(s)),
        key=lambda s: (s.end_ns, s.start_ns),
    )
    if not replies or replies[-1].status_code == 2:
        return {}
    last = loads(replies[-1].attributes.get(OI.OUTPUT_VALUE))
    if not isinstance(last, Mapping):
        return {}
    mid_work = (
        last.get("tool_calls")
        or last.get("function_call")
        or last.get("tool_responses")
        or last.get("role") == "tool"
    )
    if not mid_work:
        return {}
    return {"status": RunStatus.MAX_STEPS, "final_answer": None, "error": AG2.TURN_LIMIT_CUT_OFF}


def _last_message(span: SpanRecord) -> Mapping[str, Any] | None:
    """The chat's last message: a native chat span's ``gen_ai.output.messages`` is the
    whole history, seen from the agent that opened it (its own messages "assistant", the
    other's "user")."""
    history = loads(span.attributes.get(G.GEN_AI_OUTPUT_MESSAGES))
    last = history[-1] if isinstance(history, list) and history else None
    return last if isinstance(last, Mapping) else None


def _stopped_at_max_turns(span: SpanRecord) -> bool:
    """The chat ran all its ``max_turns`` rounds and its last message still asks for a tool
    or answers one. A chat given one turn (``agent.run(..., max_turns=1)``) that answered
    ended as designed."""
    attrs = span.attributes
    limit, turns = attrs.get(AG2.MAX_TURNS), attrs.get(AG2.TURNS)
    if span.status_code == 2 or not _is_chat(span):
        return False
    if not isinstance(limit, int) or not isinstance(turns, int) or turns < 2 * limit:
        return False
    last = _last_message(span)
    if last is None:
        return False
    parts = last.get("parts")
    asks = any(
        isinstance(p, Mapping) and p.get("type") in ("tool_call", "tool_call_response")
        for p in (parts if isinstance(parts, list) else [])
    )
    return asks or last.get("role") == "tool"


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    """A native tool span that failed names only ``error.type`` (status UNSET, no result):
    that is its error, and the conventions' call-id rule reads its result, the text AG2
    sent the model, from the model call after it. OpenInference's tool span: the arguments
    it parsed, the content AG2 returned."""
    if kind != "tool_call":
        return {}
    if span.scope_name == AG2.NATIVE_SCOPE:
        failed = span.attributes.get(A.ERROR_TYPE)
        return {"error": str(failed)} if failed and span.status_code != 2 else {}
    fields: dict[str, Any] = {}
    arguments = loads(span.attributes.get(OI.TOOL_CALL_FUNCTION_ARGUMENTS))
    if arguments is None:
        arguments = loads(json_field(span.attributes.get(OI.INPUT_VALUE), AG2.TOOL_INPUT_ARGUMENTS))
    if arguments is not None:
        fields["tool_args"] = arguments
    output = loads(span.attributes.get(OI.OUTPUT_VALUE))
    reply = output[1] if isinstance(output, list) and len(output) == 2 else None
    if isinstance(reply, Mapping) and AG2.MESSAGE_CONTENT in reply:
        content = reply[AG2.MESSAGE_CONTENT]
        result = content if isinstance(content, str) else json.dumps(content)
        fields["tool_result"] = result
        if output[0] is False:
            fields["error"] = as_text(content)
    return fields
