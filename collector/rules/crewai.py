"""CrewAI through openinference-instrumentation-crewai (its model calls through the OpenAI
instrumentor, under the same agent span).

A task's AGENT span (``{role}._execute_core``) is a run: the agent's role in
``graph.node.id``; the task and the answer only in ``output.value`` (the TaskOutput JSON),
which a failed task lacks, so its task comes from the first model call. ``input.value`` is
the agent's settings, not a task. ``Agent.kickoff`` (an agent run alone, e.g. from a tool: a
sub-agent) is an AGENT span ``{role}.kickoff`` with the messages in ``input.value``. A
hierarchical crew's manager (``Crew Manager._execute_core``) delegates with the "Delegate work
to coworker" / "Ask question to coworker" tools, which run the coworker untraced but for its
model calls and tools: those stay steps of the manager's run, under the delegation step. At
``max_iter`` CrewAI makes one more model call for a best answer and every span stays OK:
more answered model calls than ``max_iter`` is the step limit. Ctrl-C (a
``KeyboardInterrupt``, no ``Exception``) leaves the task's span and the tool it hit UNSET
without an output, where a finished one is OK with its output: the run was cancelled.
See SPANS.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.asked_tools import result_told
from collector.conventions import crewai as CR
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, first_user_text, flat_messages, loads, turn_user_text
from collector.rules.common import CANCELLED_STEP_ERROR
from collector.rules.refused_calls import refused_flat_calls
from collector.told_calls import ToldCall
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "run_fields",
    "run_status",
    "step_fields",
    "derive_run_fields",
    "derive_step_fields",
    "client_calls_told",
]

SCOPES = frozenset({CR.SCOPE})
_STATUS_ERROR = 2
_UNSET = 0
# CrewAI's task prompt: "Current Task: {description}\n\nThis is the expected criteria ..."
_TASK_IN_PROMPT = re.compile(r"Current Task:\s*(.+?)(?:\n\n|$)", re.DOTALL)
# CrewAI's agent prompt (its ``role_playing`` slice in the system message): a model call with
# it is a CrewAI agent's, whatever client instrumentation traced it.
_AGENT_PROMPT = re.compile(r"^You are .*\nYour personal goal is: ", re.DOTALL)
# What CrewAI's native tool calling answers the model for a tool the agent does not have.
_UNKNOWN_TOOL = re.compile(r"^Tool not found$")


def run_fields(span: SpanRecord) -> dict[str, Any]:
    attrs = span.attributes
    fields: dict[str, Any] = {}
    role = attrs.get(CR.GRAPH_NODE_ID)
    settings = loads(attrs.get(OI.INPUT_VALUE))
    agent = settings.get(CR.INPUT_AGENT) if isinstance(settings, Mapping) else None
    if not role and isinstance(agent, Mapping):
        role = agent.get(CR.AGENT_ROLE)
    if role:
        fields["agent_name"] = str(role)
    if isinstance(agent, Mapping):
        fields["task"] = None  # agent settings, not a task: the model calls tell it
    elif isinstance(settings, Mapping) and CR.KICKOFF_MESSAGES in settings:
        messages = settings[CR.KICKOFF_MESSAGES]  # Agent.kickoff(messages)
        # Given an earlier exchange, the task is the question after it.
        fields["task"] = messages if isinstance(messages, str) else turn_user_text(messages)
    output = loads(attrs.get(OI.OUTPUT_VALUE))
    if isinstance(output, Mapping):
        if isinstance(output.get(CR.TASK_DESCRIPTION), str):
            fields["task"] = output[CR.TASK_DESCRIPTION]
        if CR.TASK_OUTPUT_RAW in output:
            raw = output[CR.TASK_OUTPUT_RAW]
            fields["final_answer"] = None if raw is None else as_text(raw)
    return fields


def _cut_off(span: SpanRecord) -> bool:
    """Ended by Ctrl-C: neither a status (OK with its output, or ERROR) nor an output."""
    return span.status_code == _UNSET and OI.OUTPUT_VALUE not in span.attributes


def run_status(span: SpanRecord) -> str | None:
    return RunStatus.CANCELLED if _cut_off(span) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind == "tool_call" and _cut_off(span):
        return {"error": CANCELLED_STEP_ERROR}
    return {}


def _max_iter(span: SpanRecord) -> int | None:
    settings = loads(span.attributes.get(OI.INPUT_VALUE))
    agent = settings.get(CR.INPUT_AGENT) if isinstance(settings, Mapping) else None
    limit = agent.get(CR.AGENT_MAX_ITER) if isinstance(agent, Mapping) else None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _is_llm(span: SpanRecord) -> bool:
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_LLM


def _under_a_tool(span: SpanRecord, run_span: SpanRecord, by_id: Mapping[str, SpanRecord]) -> bool:
    """Whether a TOOL span stands between ``span`` and its run: the call is the tool's work
    (a coworker's, delegated by a hierarchical crew's manager), not the agent's own turn."""
    parent_id, depth = span.parent_span_id, 0
    while parent_id and parent_id != run_span.span_id and parent_id in by_id and depth < 256:
        parent = by_id[parent_id]
        if str(parent.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_TOOL:
            return True
        parent_id, depth = parent.parent_span_id, depth + 1
    return False


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The requested model (the OpenAI instrumentor's ``llm.model_name`` is the served
    one), the task of a run without output, and the step limit, all from the agent's own
    model calls (a delegated coworker's calls, under the delegation tool, are not its turns)."""
    by_id = {s.span_id: s for s in own}
    calls = sorted(
        (s for s in own if _is_llm(s) and not _under_a_tool(s, run_span, by_id)),
        key=lambda s: s.start_ns,
    )
    fields: dict[str, Any] = {}
    for span in calls:
        params = loads(span.attributes.get(OI.LLM_INVOCATION_PARAMETERS))
        if isinstance(params, Mapping) and params.get("model"):
            fields["model_requested"] = str(params["model"])
            break
    if calls:
        prompt = first_user_text(flat_messages(calls[0].attributes, "input")) or ""
        found = _TASK_IN_PROMPT.search(prompt)
        if found:
            fields["task"] = found.group(1).strip()
    answered_calls = [s for s in calls if s.status_code != _STATUS_ERROR]
    served = [s.attributes.get(OI.LLM_MODEL_NAME) for s in answered_calls]
    if any(served):
        fields["model_used"] = str([m for m in served if m][-1])  # the agent's, not a coworker's
    limit = _max_iter(run_span)
    answered = len(answered_calls)
    if run_span.status_code != _STATUS_ERROR and limit is not None and answered > limit:
        fields["status"] = RunStatus.MAX_STEPS
    return fields


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A tool that raised records no output, and CrewAI hands the model an error message
    instead ("Error executing tool: ..."): that is its result, found in the model calls
    beside it (the one that asked for the call by name and arguments names its id, a later
    one was sent the result under that id)."""
    attrs = span.attributes
    if str(attrs.get(OI.SPAN_KIND, "")).upper() != OI.KIND_TOOL or span.status_code != 2:
        return {}
    if attrs.get(OI.OUTPUT_VALUE) is not None:
        return {}
    calls = [
        s for s in trace_spans.values() if s.parent_span_id == span.parent_span_id and _is_llm(s)
    ]
    told = result_told(
        attrs.get(OI.TOOL_NAME), loads(attrs.get(OI.INPUT_VALUE)), span.start_ns, calls
    )
    return {"tool_result": told} if told is not None else {}


def client_calls_told(span: SpanRecord) -> list[ToldCall]:
    """Calls of a tool the agent does not have, which CrewAI answers ``Tool not found``
    without a tool span: told only in the next model call's messages, an OpenInference LLM
    span of the model client's instrumentor (collector/rules/refused_calls.py). Read only
    from a call whose system message is CrewAI's agent prompt: another app using that
    client may answer its model the same words."""
    if str(span.attributes.get(OI.SPAN_KIND, "")).upper() != OI.KIND_LLM:
        return []
    system = next(
        (m for m in flat_messages(span.attributes, "input") if m.get("role") == "system"), None
    )
    content = system.get("content") if system else None
    if not isinstance(content, str) or _AGENT_PROMPT.match(content) is None:
        return []
    return refused_flat_calls(span, _UNKNOWN_TOOL)
