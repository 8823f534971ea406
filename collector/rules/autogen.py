"""AutoGen AgentChat: autogen-core traces itself (GenAI spans, through the global tracer
provider) and OpenInference's instrumentor adds the model calls, so both come together.

- The run is autogen-core's ``invoke_agent {agent}`` (its status carries the failure);
  OpenInference's AGENT span under it stays OK and is not a second run, and
  ``create_agent`` (the agent's construction) is no run at all.
- A tool call is traced twice: OpenInference's TOOL span (arguments and result; OK even
  when the tool raised, the error text as its output) with autogen-core's
  ``execute_tool`` inside (ERROR with the exception, no arguments). The TOOL span is the
  step; its error comes from the span inside.

Task and answer are on no agent span: the model calls tell them. See SPANS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import autogen as AG
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.rules.common import first_line

__all__ = ["SCOPES", "span_class", "derive_step_fields"]

SCOPES = frozenset({AG.CORE_SCOPE, AG.AGENTCHAT_SCOPE})
_STATUS_ERROR = 2


def span_class(span: SpanRecord) -> str | None:
    if span.scope_name == AG.CORE_SCOPE:
        operation = span.attributes.get(G.GEN_AI_OPERATION_NAME)
        if operation in (AG.OP_CREATE_AGENT, AG.OP_EXECUTE_TOOL):
            return "other"
        return None
    if str(span.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_AGENT:
        return "other"
    return None


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A TOOL span's error, from autogen-core's failed ``execute_tool`` inside it."""
    if str(span.attributes.get(OI.SPAN_KIND, "")).upper() != OI.KIND_TOOL:
        return {}
    for inner in trace_spans.values():
        if (
            inner.parent_span_id == span.span_id
            and inner.scope_name == AG.CORE_SCOPE
            and inner.status_code == _STATUS_ERROR
        ):
            return {"error": first_line(inner.status_message) or "error"}
    return {}
