"""Framework quirks: one small module per framework (and instrumentation), each for the
spans of the instrumentation scopes it names.

The conventions themselves (OTel GenAI, OpenInference, OpenLLMetry) are read by
collector/frameworks.py and collector/mapping.py; a module here adds only what one
framework does its own way. Every hook is optional and returns only what it found:

- ``span_class(span) -> str | None``: a SpanClass value overriding the generic order;
- ``run_fields(span) -> dict``: fields of a run span (task, final_answer, agent_name,
  model_requested, error, ...), preferred to the generic ones;
- ``step_fields(span, kind) -> dict``: fields of a step span (tool_args, tool_result,
  action_type "response" for a terminal answer tool, error, ...);
- ``run_status(span) -> str | None``: a status the run span's own attributes tell
  (max_steps from the framework's step-limit exception);
- ``derive_run_fields(run_span, own) -> dict``: fields only the run's own spans tell;
- ``derive_run_fields_in_trace(run_span, own, trace_spans) -> dict``: fields only spans
  further down tell (a Strands swarm's last turn handing off to an agent that never ran);
- ``derive_step_fields(span, trace_spans) -> dict``: step fields only other spans tell
  (``tool_args``, ``error``);
- ``tool_calls_told(span) -> list[ToldCall]``: tool calls no span traces, read from the
  messages a span holds (collector/message_tools.py makes them steps);
- ``client_calls_told(span) -> list[ToldCall]``: the same, from a span of another scope
  (the framework's model call as a model client's instrumentor traced it), asked of every
  span but the module's own scopes': it tells its framework's calls by their content;
- ``prompted_task(text) -> str``: the request a model call's user message wraps in the
  framework's own prompt (smolagents' ``New task:``), for a run known only by its steps
  (collector/rootless_runs.py);
- ``run_parents(spans) -> dict`` with ``RUN_PARENT_SPANS``: the span a run hangs under when
  the framework's span tree says otherwise than its own logs (ADK 2's agent taken over by
  a transfer runs beside the agent that transferred): collector/rule_parents.py.

A new framework is a module here, its keys in collector/conventions/, and its tests.
"""

from __future__ import annotations

from types import ModuleType

from collector.decode import SpanRecord
from collector.rules import (
    ag2,
    agent_framework,
    agno,
    ai_sdk,
    autogen,
    beeai,
    crewai,
    google_adk,
    haystack,
    langchain_openinference,
    langchain_openllmetry,
    langfuse,
    litellm,
    llama_index,
    mastra,
    mcp,
    mlflow,
    openai_agents,
    openlit,
    openllmetry_calls,
    pydantic_ai,
    semantic_kernel,
    smolagents,
    strands,
    traceloop,
)

__all__ = ["for_span", "MODULES"]

MODULES: tuple[ModuleType, ...] = (
    langchain_openinference,
    langchain_openllmetry,
    strands,
    google_adk,
    smolagents,
    crewai,
    llama_index,
    autogen,
    traceloop,
    openllmetry_calls,
    pydantic_ai,
    openai_agents,
    ai_sdk,
    semantic_kernel,
    haystack,
    beeai,
    mcp,
    mastra,
    agno,
    langfuse,
    openlit,
    mlflow,
    ag2,
    litellm,
    agent_framework,
)
_BY_SCOPE: dict[str, ModuleType] = {scope: m for m in MODULES for scope in m.SCOPES}


def for_span(span: SpanRecord) -> ModuleType | None:
    """The quirks module for this span's instrumentation scope, if any; the AI SDK's spans
    are told by their attributes, as a caller may hand the SDK a tracer of any name."""
    found = _BY_SCOPE.get(span.scope_name)
    if found is None and ai_sdk.matches(span):
        return ai_sdk
    return found
