"""smolagents through openinference-instrumentation-smolagents: its ``final_answer`` tool
is how a run answers, so that call is the run's ``response`` step, not a tool call.

A tool called with positional arguments (a CodeAgent's code, ``get_weather('Paris')``) has
them in ``args``: they are named after the tool's parameters (``tool.parameters``, in
order). A streamed run's ``output.value`` is every streamed step's repr joined, no answer:
its answer is its ``final_answer`` call's. A structured answer (a dict) is written with
``str()``: it is read back and stored as JSON. A run stopped by ``agent.interrupt()``
raises ``AgentError("Agent interrupted.")``: it was cancelled, it did not fail. A managed
agent is run on smolagents' ``managed_agent`` prompt wrapping what its manager asked: its
task is that request (the prompt's ``Task:`` section), not the whole prompt. A tool that
raised records no output: smolagents tells the model the error its ``Step`` span raised
(``AgentToolExecutionError``, naming the tool and its arguments), and that is the failed
step's result. A failed run's span never ends: the run is known by its steps, its task from
its first model call, whose user message is smolagents' ``New task:`` prompt around it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, loads
from collector.rules.common import exception, python_literal
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "run_fields",
    "run_status",
    "step_fields",
    "derive_run_fields",
    "derive_step_fields",
    "prompted_task",
    "TERMINAL_TOOLS",
]

SCOPES = frozenset({OI.SMOLAGENTS_SCOPE})
TERMINAL_TOOLS = frozenset({"final_answer"})
_RUN_SUFFIX = ".run"
_STATUS_ERROR = 2
_RETURNED_NOTHING = str(None)  # the run span's output.value when run() returned None
# A Step that failed on the model's output (no tool call and no text to read): the error
# smolagents logs for that step, which belongs to its model call.
_MODEL_OUTPUT_ERRORS = frozenset({"AgentParsingError"})
# What smolagents' ``execute_tool_call`` raises for a tool (or a managed agent) that raised,
# and writes into the step's memory, which the model is sent next ("Error:\n{message}...").
_TOOL_ERROR_HEADS = (
    "Error executing tool '{name}' with arguments {arguments}: ",
    "Error executing request to team member '{name}' with arguments {arguments}: ",
)
# How smolagents' memory hands the model a run's task (``TaskStep.to_messages``).
_TASK_PROMPT = "New task:\n"
# smolagents' default ``managed_agent.task`` prompt (ToolCallingAgent and CodeAgent alike).
_MANAGED_TASK = re.compile(
    r"^You're a helpful agent named '[^'\n]*'\.\n"
    r"You have been submitted this task by your manager\.\n---\nTask:\n(?P<task>.*)\n---\n"
    r"You're helping your manager solve a wider task",
    re.DOTALL,
)


def run_fields(span: SpanRecord) -> dict[str, Any]:
    if not span.name.endswith(_RUN_SUFFIX):
        return {}
    fields: dict[str, Any] = {}
    call = loads(span.attributes.get(OI.INPUT_VALUE))
    task = call.get("task") if isinstance(call, Mapping) else None
    managed = _MANAGED_TASK.match(task) if isinstance(task, str) else None
    if managed and managed.group("task").strip():
        fields["task"] = managed.group("task").strip()
    if isinstance(call, Mapping) and call.get("stream") is True:
        fields["final_answer"] = None  # the joined stream; the final_answer call tells
        return fields
    literal = python_literal(span.attributes.get(OI.OUTPUT_VALUE))
    if isinstance(literal, (dict, list)):
        fields["final_answer"] = as_text(literal)
    return fields


def prompted_task(text: str) -> str:
    """The request in the user message smolagents opens a run with (its memory's task step:
    ``New task:``, a line break, the task; a managed agent's task is its manager's request in
    a prompt of its own); other text as it is."""
    task = text.removeprefix(_TASK_PROMPT)
    managed = _MANAGED_TASK.match(task)
    if managed and managed.group("task").strip():
        return managed.group("task").strip()
    return task


def run_status(span: SpanRecord) -> str | None:
    found = exception(span)
    if found is not None and found[1].strip() == OI.SMOLAGENTS_INTERRUPTED:
        return RunStatus.CANCELLED
    return None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "tool_call":
        return {}
    terminal = span.attributes.get(OI.TOOL_NAME) in TERMINAL_TOOLS
    fields: dict[str, Any] = {"action_type": "response", "tool_name": None} if terminal else {}
    call = loads(span.attributes.get(OI.INPUT_VALUE))
    kwargs = _named_arguments(call, span.attributes.get(OI.TOOL_PARAMETERS))
    if kwargs is not None and (terminal or (isinstance(call, Mapping) and call.get("args"))):
        fields["tool_args"] = kwargs
    if not terminal:
        return fields
    answer = span.attributes.get(OI.OUTPUT_VALUE)
    if answer is None and kwargs is not None and "answer" in kwargs:
        answer = kwargs["answer"]
    if answer is not None:
        fields["tool_result"] = as_text(answer)
    return fields


def _named_arguments(call: Any, parameters: Any) -> dict[str, Any] | None:
    """The call's keyword arguments, its positional ones named after the tool's parameters
    (None when they cannot all be named)."""
    if not isinstance(call, Mapping):
        return None
    kwargs = call.get("kwargs")
    named = dict(kwargs) if isinstance(kwargs, Mapping) else {}
    args = call.get("args")
    if isinstance(args, list) and args:
        schema = loads(parameters)
        names = list(schema)[: len(args)] if isinstance(schema, Mapping) else []
        if len(names) < len(args):
            return None
        named.update(zip(names, args, strict=False))
    return named


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The answer of a run whose span lacks one (it never ended, or it streamed): its
    final_answer call. A run that returned nothing (``output.value`` is ``str(None)``: at
    its step limit the model gave no text either) has no answer, whatever its last model
    call's empty text would say."""
    calls = [s for s in own if s.attributes.get(OI.TOOL_NAME) in TERMINAL_TOOLS]
    if not calls:
        returned = run_span.attributes.get(OI.OUTPUT_VALUE)
        return {"final_answer": None} if returned == _RETURNED_NOTHING else {}
    answer = step_fields(max(calls, key=lambda s: s.start_ns), "tool_call").get("tool_result")
    return {"final_answer": answer} if answer is not None else {}


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A raising tool's result: the error its ``Step`` span raised for that call (the tool's
    name and arguments, as smolagents writes them), which is what the model was told. Of
    several calls in one step that raised, only the first is told (smolagents stops the
    step there); the others keep no result. A model call whose output the ``Step`` could
    not read (no tool call, no text: a refusal, a content filter) has that step's error."""
    attrs = span.attributes
    kind = str(attrs.get(OI.SPAN_KIND, "")).upper()
    step = trace_spans.get(span.parent_span_id or "")
    if kind == OI.KIND_LLM and step is not None and step.status_code == _STATUS_ERROR:
        found = exception(step)
        if found and found[0].rsplit(".", 1)[-1] in _MODEL_OUTPUT_ERRORS and found[1]:
            return {"error": found[1]}
        return {}
    if span.status_code != _STATUS_ERROR or attrs.get(OI.OUTPUT_VALUE) is not None:
        return {}
    if kind != OI.KIND_TOOL:
        return {}
    call = loads(attrs.get(OI.INPUT_VALUE))
    kwargs = call.get("kwargs") if isinstance(call, Mapping) else None
    if step is None or not isinstance(kwargs, Mapping) or (call.get("args") or []):
        return {}
    name = attrs.get(OI.TOOL_NAME)
    heads = [h.format(name=name, arguments=str(dict(kwargs))) for h in _TOOL_ERROR_HEADS]
    for event in step.events:
        message = (event.get("attributes") or {}).get(G.EXCEPTION_MESSAGE)
        if event.get("name") != "exception" or not isinstance(message, str):
            continue
        if any(message.startswith(head) for head in heads):
            return {"tool_result": message}
    return {}
