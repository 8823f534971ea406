"""Google ADK 1.x: ``invocation`` → ``agent_run [{agent}]`` (no attributes) → ``call_llm``
(no operation name) → ``execute_tool {tool}``; task and answer only in the model calls'
request and response JSON, a tool's call in ADK's own keys. ADK 2.x (its telemetry schema 2,
the default) has the same tree under the GenAI names (``invoke_workflow`` → ``invoke_agent
{agent}`` → ``generate_content {model}`` → ``execute_tool {tool}``) and, only when content
capture is switched on, the GenAI content keys (``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.tool.call.arguments`` / ``.result``). See SPANS.md."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import google_adk as ADK
from collector.cut_values import cut_json_string
from collector.decode import SpanRecord
from collector.messages import as_text, loads, turn_user_text
from collector.model_answers import llm_answer, llm_input_task
from collector.rules.common import (
    CANCELLED_STEP_ERROR,
    descendants,
    exception_type,
    unanswered,
)
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "step_fields",
    "run_status",
    "derive_run_fields",
    "derive_run_fields_in_trace",
    "READS_ABOVE_RUN",
    "derive_step_fields",
    "RUN_PARENT_SPANS",
    "run_parents",
]

SCOPES = frozenset({ADK.SCOPE})


def span_class(span: SpanRecord) -> str | None:
    if span.name.startswith(ADK.AGENT_RUN_SPAN):
        return "run"
    if span.name == ADK.LLM_SPAN:
        return "think"
    if span.name in (ADK.INVOCATION_SPAN, ADK.MERGED_TOOLS_SPAN) or _is_invocation(span):
        return "other"
    if span.name.startswith(f"{A.TOOL_SPAN_PREFIX} "):
        return "tool_call"  # a tool that raised: ADK set none of its attributes
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    if not span.name.startswith(ADK.AGENT_RUN_SPAN):
        return {}
    return {"agent_name": _agent_name(span)}


def _agent_name(run_span: SpanRecord) -> str | None:
    if run_span.name.startswith(ADK.AGENT_RUN_SPAN):
        return run_span.name.removeprefix(ADK.AGENT_RUN_SPAN).removesuffix("]")
    name = run_span.attributes.get(A.GEN_AI_AGENT_NAME)
    return str(name) if name else None


def _is_invocation(span: SpanRecord) -> bool:
    """The runner's span around the root agent: ADK 1's ``invocation``, ADK 2's
    ``invoke_workflow {agent}``. Not a run: the agent's own span below it is."""
    return (
        span.name == ADK.INVOCATION_SPAN
        or span.attributes.get(G.GEN_AI_OPERATION_NAME) == G.OP_INVOKE_WORKFLOW
    )


def _tool_args(span: SpanRecord) -> Any:
    """A tool call's arguments: ADK 1's key, else ADK 2's (the GenAI one)."""
    return loads(
        span.attributes.get(ADK.TOOL_CALL_ARGS, span.attributes.get(A.GEN_AI_TOOL_CALL_ARGUMENTS))
    )


def _tool_response(span: SpanRecord) -> Any:
    """What a tool returned, as ADK records it: a non-dict result wrapped as ``{"result": x}``."""
    return loads(
        span.attributes.get(ADK.TOOL_RESPONSE, span.attributes.get(A.GEN_AI_TOOL_CALL_RESULT))
    )


# Set on ``call_llm`` once the response arrived: a call cut off by a cancellation ends
# UNSET with none of them (a call that raised is ERROR).
_ANSWERED = (ADK.LLM_RESPONSE, A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_OUTPUT_TOKENS)


def _cut_off(span: SpanRecord) -> bool:
    """A model call or tool ended by a cancellation or Ctrl-C: ADK sets their attributes
    only once they return (a call or tool that raised is ERROR), so they have none."""
    if _is_model_call(span):
        return unanswered(span, _ANSWERED)
    return (
        span.name.startswith(f"{A.TOOL_SPAN_PREFIX} ")
        and span.name != ADK.MERGED_TOOLS_SPAN
        and unanswered(span, (ADK.TOOL_CALL_ARGS, ADK.TOOL_RESPONSE, A.GEN_AI_TOOL_NAME))
    )


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if _cut_off(span):
        return {"error": CANCELLED_STEP_ERROR}
    if kind != "tool_call":
        return {}
    fields: dict[str, Any] = {"tool_name": span.name.removeprefix(f"{A.TOOL_SPAN_PREFIX} ")}
    args = _tool_args(span)
    if args is not None:
        fields["tool_args"] = args
    response = _tool_response(span)
    if isinstance(response, Mapping) and set(response) == {"result"}:
        # ADK wraps a non-dict result; a tool that returned None is ``{"result": null}``,
        # its result ``null`` as the other frameworks record it.
        response = response["result"]
        if response is None:
            fields["tool_result"] = "null"
            return fields
    if (refused := _refused(response, fields["tool_name"])) is not None:
        fields["error"] = refused
    response = cut_json_string(response, ("result",)) or response  # a long one, cut
    if response is not None:
        fields["tool_result"] = as_text(response)
    return fields


# A FunctionTool called without a mandatory argument is not run: ADK answers the model
# {"error": "Invoking `{tool}()` failed as the following mandatory input parameters are not
# present: ..."} as the tool's response.
_MISSING_ARGS_ERROR = "Invoking `{tool}()` failed as the following mandatory input parameters"


def _refused(response: Any, tool: str) -> str | None:
    """ADK's own answer for a call it did not run (a mandatory argument missing)."""
    if not isinstance(response, Mapping) or set(response) != {"error"}:
        return None
    error = str(response["error"])
    return error if error.startswith(_MISSING_ARGS_ERROR.format(tool=tool)) else None


def run_status(span: SpanRecord) -> str | None:
    return RunStatus.MAX_STEPS if exception_type(span) == ADK.MAX_CALLS_ERROR else None


def _is_model_call(span: SpanRecord) -> bool:
    """ADK 1.x ``call_llm``, or 2.x ``generate_content {model}`` (GenAI operation name)."""
    return span.name == ADK.LLM_SPAN or span.attributes.get(G.GEN_AI_OPERATION_NAME) in (
        A.LLM_OPERATIONS
    )


def _parts(content: Any) -> list[Mapping[str, Any]]:
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return [p for p in parts or [] if isinstance(p, Mapping)]


def _messages(request: Any) -> list[dict[str, Any]]:
    """An ADK request's ``contents`` as chat messages (role ``user`` / ``model``, text)."""
    contents = request.get("contents") if isinstance(request, Mapping) else None
    messages = []
    for content in contents if isinstance(contents, list) else []:
        if isinstance(content, Mapping):
            texts = [str(p["text"]) for p in _parts(content) if p.get("text")]
            role = content.get("role")
            if texts and texts[0] == ADK.FOREIGN_EVENTS_TEXT:
                role = "context"  # other agents' turns relayed, not the user's request
            messages.append({"role": role, "content": "\n".join(texts)})
    return messages


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    calls = [s for s in own if _is_model_call(s)]
    fields: dict[str, Any] = {}
    task = _task(calls)
    if task:
        fields["task"] = task
    answer = None
    if run_span.status_code != 2:
        answer = _ended_on_tool(own)
        answer = _answer(calls) if answer is None else answer
    if answer is not None:
        fields["final_answer"] = answer
    elif run_span.status_code != 2 and _ended_cut_off(own):
        fields["status"] = RunStatus.CANCELLED  # ADK ends every span UNSET on a cancellation
    return fields


def _ended_cut_off(own: list[SpanRecord]) -> bool:
    """The run's last model call or tool (by start) was cut off."""
    steps = [s for s in own if _is_model_call(s) or s.name.startswith(f"{A.TOOL_SPAN_PREFIX} ")]
    last = max(steps, key=lambda s: (s.start_ns, s.end_ns), default=None)
    return last is not None and _cut_off(last)


def _ended_on_tool(own: list[SpanRecord]) -> str | None:
    """A tool that skipped summarization (``tool_context.actions.skip_summarization``) ends
    the run: no model call starts after it, its response is the final one."""
    tools = [
        s
        for s in own
        if s.name.startswith(f"{A.TOOL_SPAN_PREFIX} ")
        and s.name not in (ADK.MERGED_TOOLS_SPAN, ADK.TRANSFER_SPAN)
    ]
    last = max(tools, key=lambda s: s.start_ns, default=None)
    if last is None or last.status_code == 2:
        return None
    if any(_is_model_call(s) and s.start_ns > last.start_ns for s in own):
        return None
    if _tool_response(last) == {"result": None}:
        return None  # a tool returning nothing (``exit_loop``) gives no answer
    result = step_fields(last, "tool_call").get("tool_result")
    return str(result) if result is not None else None


# derive_run_fields_in_trace reads below the run and, for an ``AgentTool``'s agent, the
# invocation above it, the tool above that and the model call above the tool (a raised
# tool's arguments): three parent links (collector/foreign_runs.py).
READS_ABOVE_RUN = 3


def derive_run_fields_in_trace(
    run_span: SpanRecord, own: list[SpanRecord], trace_spans: list[SpanRecord]
) -> dict[str, Any]:
    """What a run's sub-agents did for it: a workflow agent (``SequentialAgent``, ...) makes
    no model call, its sub-agents do: its task is the first one's, its answer the last
    one's; an agent that handed the conversation over (``transfer_to_agent``) answers with
    what the agent it transferred to answered."""
    own_calls = [s for s in own if _is_model_call(s)]
    transfers = [s for s in own if s.name == ADK.TRANSFER_SPAN]
    fields: dict[str, Any] = {}
    if own_calls and _task(own_calls) is None:
        # Its first call failed (no request recorded): what the calling agent asked, if any.
        asked = _asked_by_agent_tool(run_span, trace_spans)
        if asked:
            fields["task"] = asked
    if own_calls and not transfers:
        return fields
    below = [s for s in descendants(run_span, trace_spans) if _is_model_call(s)]
    if not own_calls:
        task = _task(below) or _asked_by_agent_tool(run_span, trace_spans)
        if task:
            fields["task"] = task
    if run_span.status_code == 2:
        return fields
    # The agent handed over to runs below it (ADK 1; ADK 2's by ``run_parents``).
    handed_over = max((s.start_ns for s in transfers), default=0)
    if _answer([s for s in own_calls if s.start_ns > handed_over]) is None:
        answer = _answer([s for s in below if s.start_ns > handed_over])
        if answer:
            fields["final_answer"] = answer
    return fields


def _asked_by_agent_tool(run_span: SpanRecord, trace_spans: list[SpanRecord]) -> str | None:
    """The request an ``AgentTool`` call handed the agent of ``run_span``, which ADK sends it
    as its user message: ``{"request": text}``, or for an agent with an ``input_schema`` the
    arguments as (compact) JSON. Its tree: ``execute_tool {agent}`` → ``invocation`` → the
    agent's ``agent_run [{agent}]``."""
    by_id = {s.span_id: s for s in trace_spans}
    invocation = by_id.get(run_span.parent_span_id or "")
    if invocation is None or not _is_invocation(invocation):
        return None
    tool = by_id.get(invocation.parent_span_id or "")
    agent = _agent_name(run_span)
    if tool is None or tool.name != f"{A.TOOL_SPAN_PREFIX} {agent}":
        return None
    # A raised tool's span has no arguments: then its model call's function call has them.
    args = _tool_args(tool)
    if args is None:
        args = derive_step_fields(tool, by_id).get("tool_args")
    if not isinstance(args, Mapping) or not args:
        return None
    request = args.get("request")
    if set(args) == {"request"} and isinstance(request, str):
        return request
    return json.dumps(args, separators=(",", ":"), ensure_ascii=False)


def _task(calls: list[SpanRecord]) -> str | None:
    """The request that opened the first call's turn (the session's earlier runs come first)."""
    for span in sorted(calls, key=lambda s: s.start_ns):
        request = span.attributes.get(ADK.LLM_REQUEST)
        if request is not None:
            task = turn_user_text(_messages(loads(request)))
        else:  # ADK 2: the GenAI input messages, when content is captured
            task = llm_input_task(span)
        if task:
            return task
    return None


def _answer(calls: list[SpanRecord]) -> str | None:
    """The text of the last call (by end) that answered without a function call (``""``
    when it answered with no text)."""
    for span in sorted(calls, key=lambda s: (s.end_ns, s.start_ns), reverse=True):
        if ADK.LLM_RESPONSE not in span.attributes:
            # ADK 2: the GenAI output messages, when content is captured
            answer = llm_answer(span) if span.status_code != 2 else None
            if answer is not None:
                return answer
            continue
        response = loads(span.attributes.get(ADK.LLM_RESPONSE))
        content = response.get("content") if isinstance(response, Mapping) else None
        parts = _parts(content)
        answered = isinstance(content, Mapping) and span.status_code != 2
        if answered and not any(p.get("function_call") for p in parts):
            return "\n".join(str(p["text"]) for p in parts if p.get("text"))
    return None


# What run_parents reads (SQL LIKE patterns on span names): the agents' runs and the transfers.
RUN_PARENT_SPANS = (f"{A.OP_INVOKE_AGENT} %", f"{ADK.AGENT_RUN_SPAN}%", ADK.TRANSFER_SPAN)


def _is_run(span: SpanRecord) -> bool:
    return span.name.startswith(ADK.AGENT_RUN_SPAN) or (
        span.attributes.get(G.GEN_AI_OPERATION_NAME) == A.OP_INVOKE_AGENT
    )


def run_parents(spans: Iterable[SpanRecord]) -> dict[str, str | None]:
    """ADK 2 (either telemetry schema) runs the agent a ``transfer_to_agent`` hands the
    conversation over to beside the agent that handed over, both under the invocation; ADK 1
    nests it below that agent, and so does this: the run of an agent is placed below the run
    span next to it (same parent) that made the latest transfer (by start) starting before
    it, to that agent when the transfer's arguments name one (ADK records them only with
    content capture). A transfer that failed hands nothing over."""
    spans = list(spans)
    runs = {s.span_id: s for s in spans if _is_run(s)}
    transfers = [
        (t, runs[t.parent_span_id])
        for t in spans
        if t.name == ADK.TRANSFER_SPAN and t.status_code != 2 and t.parent_span_id in runs
    ]
    placed: dict[str, str | None] = {}
    for run in runs.values():
        agent = _agent_name(run)
        made = [
            (t.start_ns, t.span_id, by.span_id)
            for t, by in transfers
            if by.span_id != run.span_id
            and by.parent_span_id == run.parent_span_id
            and t.start_ns <= run.start_ns
            and _transferred_to(t) in (None, agent)
        ]
        if made:
            placed[run.span_id] = max(made)[2]
    return placed


def _transferred_to(transfer: SpanRecord) -> str | None:
    """The agent a transfer names, when its arguments were recorded."""
    args = _tool_args(transfer)
    name = args.get("agent_name") if isinstance(args, Mapping) else None
    return str(name) if name else None


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A raised tool's arguments, from the function call of the model call it runs under."""
    if not span.name.startswith(f"{A.TOOL_SPAN_PREFIX} ") or ADK.TOOL_CALL_ARGS in span.attributes:
        return {}
    parent = trace_spans.get(span.parent_span_id or "")
    if parent is None or not _is_model_call(parent):
        return {}
    response = loads(parent.attributes.get(ADK.LLM_RESPONSE))
    name = span.name.removeprefix(f"{A.TOOL_SPAN_PREFIX} ")
    calls = [
        p["function_call"]
        for p in _parts(response.get("content") if isinstance(response, Mapping) else None)
        if isinstance(p.get("function_call"), Mapping) and p["function_call"].get("name") == name
    ]
    call_id = span.attributes.get(A.GEN_AI_TOOL_CALL_ID)
    if len(calls) > 1 and call_id:  # the same tool called twice in one turn
        calls = [c for c in calls if c.get("id") == call_id]
    elif len(calls) > 1:
        # A raised tool records no call id: its call is the one no sibling tool answered.
        answered = {
            other.attributes.get(A.GEN_AI_TOOL_CALL_ID)
            for other in trace_spans.values()
            if other.parent_span_id == span.parent_span_id and other.span_id != span.span_id
        }
        calls = [c for c in calls if c.get("id") not in answered]
    if len(calls) != 1 or not isinstance(calls[0].get("args"), Mapping):
        return {}
    return {"tool_args": dict(calls[0]["args"])}
