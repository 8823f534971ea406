"""Strands Agents: its own OTel GenAI spans, with the messages as span events
(``gen_ai.user.message``, ``gen_ai.tool.message``, ``gen_ai.choice``). See SPANS.md.

A ``Swarm`` (or ``Graph``) is a run of its own (``invoke_swarm``), its agents' turns runs
nested under it. Strands never records the swarm's answer or outcome on its span: the answer
is its last turn's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import strands as ST
from collector.decode import SpanRecord
from collector.messages import as_text, has_tool_call, last_text, loads, turn_user_text
from collector.rules.common import CANCELLED_STEP_ERROR, event_attrs, text_blocks
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "run_status",
    "step_fields",
    "derive_run_fields",
    "derive_run_fields_in_trace",
]

SCOPES = frozenset({ST.SCOPE})
_STATUS_ERROR = 2  # OTLP status code


def _multiagent(span: SpanRecord) -> str | None:
    """``swarm`` / ``graph`` for a multi-agent run's span, else None."""
    return ST.MULTIAGENT_OPERATIONS.get(str(span.attributes.get(G.GEN_AI_OPERATION_NAME)))


def span_class(span: SpanRecord) -> str | None:
    # A swarm or graph is the run its agents' turns nest under (their invoke_agent spans).
    return "run" if _multiagent(span) else None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    # The run span's usage is the agent's since it was built (``accumulated_usage``): an
    # agent called again reports its earlier runs' tokens too. Its own model calls', summed
    # from its steps, are the run's.
    fields: dict[str, Any] = {"input_tokens": None, "output_tokens": None}
    multiagent = _multiagent(span)
    if multiagent:
        fields["agent_name"] = multiagent
    for attrs in event_attrs(span, ST.EVENT_USER_MESSAGE):
        task = text_blocks(attrs.get(ST.EVENT_CONTENT))
        if task:
            fields["task"] = task
            break
    choices = event_attrs(span, ST.EVENT_CHOICE)
    if choices:
        message = choices[-1].get(ST.EVENT_MESSAGE)
        answer = _answer(message)
        if answer is None and not str(message or "").strip("[]{} \n"):
            answer = ""  # the model ended its turn saying nothing
        fields["final_answer"] = answer
    details = event_attrs(span, ST.EVENT_DETAILS)  # the latest GenAI conventions
    for attrs in details:
        task = turn_user_text(attrs.get(G.GEN_AI_INPUT_MESSAGES))
        if task and "task" not in fields:
            fields["task"] = task
        output = loads(attrs.get(G.GEN_AI_OUTPUT_MESSAGES))
        # The run's output is ``str(AgentResult)``: each text block with a newline after it,
        # which the model did not write (the events' blocks are read stripped too).
        answer = (last_text(output) or "").strip()
        if answer:
            fields["final_answer"] = answer
        elif isinstance(output, list) and output and not any(_asks_tool(m) for m in output):
            fields["final_answer"] = ""  # the model ended its turn saying nothing
    return fields


def _asks_tool(message: Any) -> bool:
    return isinstance(message, Mapping) and has_tool_call(message)


def run_status(span: SpanRecord) -> str | None:
    """A run cancelled (``asyncio`` cancellation) ends UNSET, naming the cancellation."""
    return RunStatus.CANCELLED if span.attributes.get(ST.CANCELLATION_TYPE) else None


def _answer(message: Any) -> str | None:
    """A run's answer: the text of its last choice's blocks, or a structured output's JSON
    object (``structured_output_model``), written as it is."""
    text = text_blocks(message)
    parsed = loads(message)
    if text is None and isinstance(parsed, Mapping) and not set(parsed) & _BLOCK_KEYS:
        return str(message) if isinstance(message, str) else as_text(parsed)
    return text


_BLOCK_KEYS = frozenset({"text", "toolUse", "toolResult", "reasoningContent", "image", "document"})


def _tool_result(value: Any) -> str | None:
    """A tool's result blocks as text: ``""`` where the tool returned an empty text (a text
    block with nothing in it), not a result unknown."""
    read = text_blocks(value)
    if read is not None:
        return read
    blocks = loads(value)
    if isinstance(blocks, Mapping):
        blocks = [blocks]
    texts = isinstance(blocks, list) and blocks
    if texts and all(isinstance(b, Mapping) and isinstance(b.get("text"), str) for b in blocks):
        return ""
    return None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "tool_call":
        return {}
    fields: dict[str, Any] = {}
    calls = event_attrs(span, ST.EVENT_TOOL_MESSAGE)
    if calls:
        fields["tool_args"] = loads(calls[0].get(ST.EVENT_CONTENT))
    description = span.attributes.get(ST.TOOL_DESCRIPTION)
    if isinstance(description, str) and description.startswith(ST.STRUCTURED_OUTPUT_TOOL):
        # The structured answer the run returns: its response step, the object as result.
        arguments = fields.get("tool_args", span.attributes.get(A.GEN_AI_TOOL_CALL_ARGUMENTS))
        fields.update(action_type="response", tool_name=None)
        if arguments is not None:
            fields["tool_result"] = as_text(loads(arguments))
        return fields
    results = event_attrs(span, ST.EVENT_CHOICE)
    if results:
        fields["tool_result"] = _tool_result(results[-1].get(ST.EVENT_MESSAGE))
    elif (read := _tool_result(span.attributes.get(A.GEN_AI_TOOL_CALL_RESULT))) is not None:
        # The latest GenAI conventions: the same blocks as an attribute.
        fields["tool_result"] = read
    if span.attributes.get(ST.TOOL_STATUS) == "error" and span.status_code != 2:
        fields["error"] = fields.get("tool_result") or "error"
    elif ST.TOOL_STATUS not in span.attributes and span.status_code != _STATUS_ERROR:
        # Strands sets the status on every tool that returned or raised; a tool span
        # ended without it was cut off by Ctrl-C (its run names the cancellation).
        fields["error"] = CANCELLED_STEP_ERROR
    return fields


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """A swarm's answer and model: those of its last agent turn (its nested ``invoke_agent``
    spans are among its own spans; their steps are not)."""
    if not _multiagent(run_span) or run_span.status_code == _STATUS_ERROR:
        return {}
    last = _last_turn(own)
    if last is None:
        return {}
    fields: dict[str, Any] = {}
    answer = run_fields(last).get("final_answer")
    if answer:
        fields["final_answer"] = answer
    # Strands records no response model: the model used is the one the last turn asked for.
    model = last.attributes.get(G.GEN_AI_RESPONSE_MODEL) or last.attributes.get(
        G.GEN_AI_REQUEST_MODEL
    )
    if model:
        fields["model_used"] = str(model)
    return fields


def derive_run_fields_in_trace(
    run_span: SpanRecord, own: list[SpanRecord], trace_spans: list[SpanRecord]
) -> dict[str, Any]:
    """A swarm stopped by its hand-off limit is ``max_steps``.

    Strands writes the stop ("Max handoffs reached") only to its debug log: every span
    ends OK or UNSET. What the trace does show is the last turn handing off to an agent
    whose turn never came; that is the limit, since a hand-off is always taken up
    otherwise.
    """
    if _multiagent(run_span) != "swarm" or run_span.status_code == _STATUS_ERROR:
        return {}
    last = _last_turn(own)
    if last is None:
        return {}
    target = _handed_to(last, trace_spans)
    if target is None:
        return {}
    agent = last.attributes.get(A.GEN_AI_AGENT_NAME) or last.name
    return {
        "status": RunStatus.MAX_STEPS,
        "final_answer": None,
        "error": (
            f"the swarm stopped at its hand-off limit: {agent!s} handed off to "
            f"{target!r}, which never ran"
        ),
    }


def _last_turn(own: list[SpanRecord]) -> SpanRecord | None:
    """The agent turn that ended last among a multi-agent run's own spans; None when there
    is none or it failed."""
    turns = sorted(
        (s for s in own if s.attributes.get(G.GEN_AI_OPERATION_NAME) == ST.AGENT_OPERATION),
        key=lambda s: (s.end_ns, s.start_ns),
    )
    if not turns or turns[-1].status_code == _STATUS_ERROR:
        return None
    return turns[-1]


def _handed_to(turn: SpanRecord, trace_spans: list[SpanRecord]) -> str | None:
    """The agent the turn's last successful hand-off names, or None."""
    children: dict[str | None, list[SpanRecord]] = {}
    for span in trace_spans:
        children.setdefault(span.parent_span_id, []).append(span)
    below, frontier = [], [turn.span_id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            below.append(child)
            frontier.append(child.span_id)
    handoffs = sorted(
        (
            s
            for s in below
            if s.attributes.get(A.GEN_AI_TOOL_NAME) == ST.HANDOFF_TOOL
            and s.status_code != _STATUS_ERROR
            and s.attributes.get(ST.TOOL_STATUS) != "error"
        ),
        key=lambda s: (s.end_ns, s.start_ns),
    )
    if not handoffs:
        return None
    return _target_of(handoffs[-1]) or "another agent"


def _target_of(handoff: SpanRecord) -> str | None:
    """The agent a hand-off names: its arguments travel as an attribute or in an event,
    as a JSON object or inside a message (which depends on the conventions chosen)."""
    values: list[Any] = list(handoff.attributes.values())
    for event in handoff.events:
        values.extend((event.get("attributes") or {}).values())
    for value in values:
        found = _find_key(loads(value) if isinstance(value, str) else value, depth=6)
        if found:
            return found
    return None


def _find_key(value: Any, depth: int) -> str | None:
    if depth <= 0:
        return None
    if isinstance(value, dict):
        if isinstance(value.get(ST.HANDOFF_TARGET), str):
            return str(value[ST.HANDOFF_TARGET])
        items: list[Any] = list(value.values())
    elif isinstance(value, list):
        items = value
    elif isinstance(value, str) and value.startswith(("{", "[")):
        return _find_key(loads(value), depth - 1)
    else:
        return None
    for item in items:
        found = _find_key(item, depth - 1)
        if found:
            return found
    return None
