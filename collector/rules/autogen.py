"""AutoGen AgentChat: autogen-core traces itself (GenAI spans, through the global tracer
provider) and OpenInference's instrumentor adds the model calls, so both come together.

- An agent's run is autogen-core's ``invoke_agent {agent}`` (its status carries the
  failure); OpenInference's AGENT span under it stays OK and is not a second run, and
  ``create_agent`` (the agent's construction) is no run at all.
- A team (RoundRobinGroupChat, SelectorGroupChat, Swarm, ...) is a run: OpenInference's
  ``{Team}.run_stream`` span, whose output is the TaskResult (messages and
  ``stop_reason``). Each agent's turn is autogen-core's ``invoke_agent`` below it: a
  child run. A Swarm's hand-off is the ``transfer_to_{agent}`` tool step of the turn that
  hands over. A team stopped by ``max_turns`` or MaxMessageTermination is ``max_steps``.
  A team given a message as its task (a ``HandoffMessage`` answering a Swarm that handed
  over to the user) holds it as the message's repr: the task is its text content.
- A tool call is traced twice: OpenInference's TOOL span (arguments and result; OK even
  when the tool raised, the error text as its output) with autogen-core's
  ``execute_tool`` inside (ERROR with the exception, no arguments). The TOOL span is the
  step; its error comes from the span inside.
- AssistantAgent stops its tool loop at ``max_tool_iterations`` and returns the last tool
  results; no span records the setting. The loop only ends on a model turn that asked for
  tools at the limit or at a hand-off, so an agent run whose last model turn asked for
  tools after two or more such turns stopped at its limit (``max_steps``). With one such
  turn the limit is 1, AutoGen's default, whose designed answer is the tool results.

A call of a tool the agent does not have is a TOOL span, OK, whose output is AutoGen's
``Error: tool '...' not found in any workbench``: a failed step.

A model call streamed without ``include_usage`` gets no usage from the server; the client
then counts 0 prompt and 0 completion tokens: its tokens are unknown, not zero.

A run cancelled while a tool runs ends with every span UNSET, no exception: the cut TOOL
span has no output (a finished one always has).

An agent's task and answer are on no agent span: the model calls tell them. See SPANS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import autogen as AG
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, json_field, loads
from collector.rules.common import CANCELLED_STEP_ERROR, first_line, python_literal
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "run_status",
    "derive_run_fields",
    "derive_run_fields_in_trace",
    "derive_step_fields",
    "step_fields",
]

SCOPES = frozenset({AG.CORE_SCOPE, AG.AGENTCHAT_SCOPE})
_STATUS_ERROR = 2


def _kind(span: SpanRecord) -> str:
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper()


def _is_team(span: SpanRecord) -> bool:
    return (
        span.scope_name == AG.AGENTCHAT_SCOPE
        and _kind(span) == OI.KIND_CHAIN
        and span.name.endswith(AG.TEAM_RUN_SUFFIX)
    )


def span_class(span: SpanRecord) -> str | None:
    if span.scope_name == AG.CORE_SCOPE:
        operation = span.attributes.get(G.GEN_AI_OPERATION_NAME)
        if operation in (AG.OP_CREATE_AGENT, AG.OP_EXECUTE_TOOL):
            return "other"
        return None
    if _is_team(span):
        return "run"
    if _kind(span) == OI.KIND_AGENT:
        return "other"
    return None


def _task_result(span: SpanRecord) -> Mapping[str, Any]:
    result = loads(span.attributes.get(OI.OUTPUT_VALUE))
    return result if isinstance(result, Mapping) else {}


def _stop_reason(span: SpanRecord) -> str | None:
    reason = _task_result(span).get(AG.TASK_RESULT_STOP_REASON)
    return reason if isinstance(reason, str) and reason else None


def _last_chat_message(result: Mapping[str, Any]) -> str | None:
    """The text of the team's last chat message (inner events and the task excluded)."""
    messages = result.get(AG.TASK_RESULT_MESSAGES)
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, Mapping):
            continue
        if str(message.get(AG.MESSAGE_TYPE, "")).endswith(AG.EVENT_TYPE_SUFFIX):
            continue
        if message.get(AG.MESSAGE_SOURCE) == AG.USER_SOURCE:
            return None  # nobody answered
        content = message.get(AG.MESSAGE_CONTENT)
        return None if content is None else as_text(content)
    return None


def _message_repr(text: str) -> dict[str, Any] | None:
    """A chat message given as the task, which the team's span holds as its pydantic repr:
    its source and text content (None for other text, or content that is no text)."""
    if not AG.MESSAGE_REPR.search(text):
        return None
    content = AG.MESSAGE_REPR_CONTENT.search(text)
    source = AG.MESSAGE_REPR_SOURCE.search(text)
    value = python_literal(content.group(1)) if content else None
    if not isinstance(value, str):
        return None
    return {AG.MESSAGE_SOURCE: source.group(1) if source else None, AG.MESSAGE_CONTENT: value}


def _task_messages(task: Any) -> list[Mapping[str, Any]] | None:
    """A task given as a chat message or a list of them, each as a mapping with its source
    and content (a message's repr parsed); None for a task given as text."""
    if isinstance(task, str) and _message_repr(task) is None:
        return None
    given = [task] if isinstance(task, (str, Mapping)) else task
    if not isinstance(given, list):
        return []
    parsed = [(_message_repr(m) or m) if isinstance(m, str) else m for m in given]
    return [m for m in parsed if isinstance(m, Mapping)]


def _task_text(task: Any) -> str | None:
    """A task: text, a chat message, or a list of them. Of a list, the user's text that
    opened the current turn: the first after the last message another source wrote (an
    earlier exchange given as history comes before it), else the first."""
    messages = _task_messages(task)
    if messages is None:
        return task or None
    users = [
        (i, content)
        for i, m in enumerate(messages)
        if _from_user(m) and isinstance(content := m.get(AG.MESSAGE_CONTENT), str) and content
    ]
    replied = max((i for i, m in enumerate(messages) if not _from_user(m)), default=-1)
    after = [content for i, content in users if i > replied]
    return after[0] if after else (users[0][1] if users else None)


def _from_user(message: Mapping[str, Any]) -> bool:
    return message.get(AG.MESSAGE_SOURCE, AG.USER_SOURCE) == AG.USER_SOURCE


def _given_history(run_span: SpanRecord, own: list[SpanRecord]) -> str | None:
    """An agent run given messages from more than one source (an earlier exchange, then
    the user's question): the question, from OpenInference's AGENT span below the run.
    Its model calls cannot tell: AssistantAgent sends every given message as a user one."""
    for span in own:
        if span.parent_span_id != run_span.span_id or _kind(span) != OI.KIND_AGENT:
            continue
        messages = _task_messages(json_field(span.attributes.get(OI.INPUT_VALUE), "messages"))
        if len({_from_user(m) for m in messages or []}) > 1:
            return _task_text(messages)
    return None


def _team_task(span: SpanRecord) -> str | None:
    # json_field: a redacted argument after the task (its cancellation_token) may have left
    # the input no longer JSON.
    return _task_text(json_field(span.attributes.get(OI.INPUT_VALUE), AG.TEAM_INPUT_TASK))


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """A team run: named after its class, the task it was given, its last message, and
    its failure (without the traceback AutoGen appends) or the limit that stopped it."""
    if not _is_team(span):
        return {}
    fields: dict[str, Any] = {"agent_name": span.name.removesuffix(AG.TEAM_RUN_SUFFIX)}
    fields["task"] = _team_task(span)
    fields["final_answer"] = _last_chat_message(_task_result(span))
    if span.status_code == _STATUS_ERROR and span.status_message:
        fields["error"] = first_line(span.status_message.split(AG.TRACEBACK_MARK, 1)[0])
    elif run_status(span) == RunStatus.MAX_STEPS:
        fields["error"] = _stop_reason(span)
    return fields


def run_status(span: SpanRecord) -> str | None:
    """``max_steps`` for a team its turn or message limit stopped."""
    if not _is_team(span) or span.status_code == _STATUS_ERROR:
        return None
    reason = _stop_reason(span)
    if not reason or not AG.STEP_LIMIT_STOP_REASONS.search(reason):
        return None
    # Only limits fired: a condition that fired with them (a text mention) ended it by design.
    others = AG.STEP_LIMIT_STOP_REASONS.sub("", reason).replace(",", " ").strip()
    return None if others else RunStatus.MAX_STEPS


def _asks_for_tools(span: SpanRecord) -> bool:
    result = loads(span.attributes.get(OI.OUTPUT_VALUE))
    if isinstance(result, Mapping) and result.get(AG.OUTPUT_FINISH_REASON):
        return result[AG.OUTPUT_FINISH_REASON] == AG.FINISH_FUNCTION_CALLS
    return any(
        (found := OI.FLAT_MESSAGE.match(key)) is not None
        and found.group(1) == "output"
        and found.group(3).startswith("tool_calls.")
        for key in span.attributes
    )


def _is_handoff(tool: SpanRecord) -> bool:
    attrs = tool.attributes
    description = str(attrs.get(OI.TOOL_DESCRIPTION) or "")
    name = str(attrs.get(OI.TOOL_NAME) or "")
    return description.startswith(AG.HANDOFF_DESCRIPTION_PREFIX) or name.startswith(
        AG.HANDOFF_NAME_PREFIX
    )


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """An agent run that ended its tool loop on a model turn still asking for tools:
    at ``max_tool_iterations`` (``max_steps``), or with the default single iteration,
    whose answer is the tool results. A team takes no answer from its own model calls."""
    if _is_team(run_span):
        # The team's answer is its last message (run_fields), never what its own model calls
        # said: those pick the next speaker.
        return {"final_answer": None}
    if run_span.scope_name != AG.CORE_SCOPE or run_span.status_code == _STATUS_ERROR:
        return {}
    calls = sorted(
        (s for s in own if _kind(s) == OI.KIND_LLM and s.status_code != _STATUS_ERROR),
        key=lambda s: (s.end_ns, s.start_ns),
    )
    if not calls or not _asks_for_tools(calls[-1]):
        return {}
    last_tools = sorted(
        (s for s in own if _kind(s) == OI.KIND_TOOL and s.start_ns >= calls[-1].end_ns),
        key=lambda s: s.start_ns,
    )
    if any(_cut_off(tool) for tool in last_tools):
        return {"status": RunStatus.CANCELLED}
    if any(_is_handoff(tool) for tool in last_tools):
        return {}  # a hand-off ends the agent's turn by design
    if sum(1 for call in calls if _asks_for_tools(call)) >= 2:
        return {"status": RunStatus.MAX_STEPS}
    results = [
        as_text(t.attributes[OI.OUTPUT_VALUE])
        for t in last_tools
        if OI.OUTPUT_VALUE in t.attributes
    ]
    return {"final_answer": "\n".join(results)} if results else {}


def derive_run_fields_in_trace(
    run_span: SpanRecord, own: list[SpanRecord], trace_spans: list[SpanRecord]
) -> dict[str, Any]:
    """An agent's turn in a team works on the team's task: its model calls are sent the
    other agents' messages as user messages, so they cannot tell it. An agent run on its
    own given an earlier exchange works on the question after it (:func:`_given_history`)."""
    if run_span.scope_name != AG.CORE_SCOPE:
        return {}
    by_id = {s.span_id: s for s in trace_spans}
    parent, depth = by_id.get(run_span.parent_span_id or ""), 0
    while parent is not None and depth < 256:
        if _is_team(parent):
            task = _team_task(parent)
            return {"task": task} if task else {}
        if parent.scope_name == AG.CORE_SCOPE and parent.attributes.get(
            G.GEN_AI_OPERATION_NAME
        ) == (AG.OP_INVOKE_AGENT):
            break  # a sub-agent (AgentTool) of an agent: its own task
        parent, depth = by_id.get(parent.parent_span_id or ""), depth + 1
    task = _given_history(run_span, own)
    return {"task": task} if task else {}


def _cut_off(tool: SpanRecord) -> bool:
    """A TOOL span ended by a cancellation: no output, no error (a finished tool always has
    an output, the error text when it raised)."""
    return (
        tool.scope_name == AG.AGENTCHAT_SCOPE
        and _kind(tool) == OI.KIND_TOOL
        and tool.status_code != _STATUS_ERROR
        and OI.OUTPUT_VALUE not in tool.attributes
    )


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind == "tool_call":
        if _cut_off(span):
            return {"error": CANCELLED_STEP_ERROR}
        output = span.attributes.get(OI.OUTPUT_VALUE)
        if isinstance(output, str) and AG.TOOL_NOT_FOUND.match(output):
            return {"error": output}  # a tool the agent does not have: told as an error
        return {}
    if _kind(span) == OI.KIND_LLM and _no_usage(span):
        return {"input_tokens": None, "output_tokens": None}
    return {}


def _no_usage(span: SpanRecord) -> bool:
    """A streamed call whose server sent no usage (not asked for ``include_usage``): the
    OpenAI client counts 0 prompt and 0 completion tokens for it, which no call that was
    sent a prompt used. Its tokens are unknown."""
    counts = (
        span.attributes.get(OI.LLM_TOKEN_COUNT_PROMPT),
        span.attributes.get(OI.LLM_TOKEN_COUNT_COMPLETION),
    )
    return all(isinstance(c, (int, float)) and c == 0 for c in counts)


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A TOOL span's error, from autogen-core's failed ``execute_tool`` inside it."""
    if _kind(span) != OI.KIND_TOOL:
        return {}
    for inner in trace_spans.values():
        if (
            inner.parent_span_id == span.span_id
            and inner.scope_name == AG.CORE_SCOPE
            and inner.status_code == _STATUS_ERROR
        ):
            return {"error": first_line(inner.status_message) or "error"}
    return {}
