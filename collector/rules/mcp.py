"""MCP spans (the ``mcp`` SDK's own, 2.x; OpenLLMetry's for 1.x): transport, never a run or
a step. An agent's MCP tool call is the step its framework traces (the Agents SDK's TOOL
span, with the arguments and the result); the MCP spans sit below it (2.x: the client's,
and the server's through the context the client sends). A framework's tool span records an
MCP tool that answered ``isError`` as a success holding the error text: the MCP span below
tells it failed (:func:`failed_call_error`). See tests/frameworks/SPANS.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import mcp as M
from collector.conventions import openinference as OI
from collector.conventions import openllmetry as OLL
from collector.decode import SpanRecord
from collector.rules.common import text_blocks
from instrumentation import attributes as A

__all__ = ["SCOPES", "span_class", "failed_call_error"]

SCOPES = frozenset({M.SCOPE, M.OPENLLMETRY_SCOPE})
_STATUS_ERROR = 2
_HOPS = 4  # server span -> client span -> (a session's span) -> the framework's tool span


def span_class(span: SpanRecord) -> str | None:
    return "other"


def failed_call_error(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> str | None:
    """The error of a framework's tool span whose MCP call failed on the server, or None.

    It is the text the tool's result holds (what the server answered), else the server
    span's description or error type."""
    if span.scope_name in SCOPES or span.status_code == _STATUS_ERROR or not _is_tool(span):
        return None
    for other in _failed_server_calls(trace_spans):
        if _framework_span_above(other, trace_spans) != span:
            continue
        attrs = span.attributes
        result = attrs.get(OI.OUTPUT_VALUE, attrs.get(A.GEN_AI_TOOL_CALL_RESULT))
        return (
            text_blocks(result)
            or other.status_message
            or str(other.attributes.get(A.ERROR_TYPE) or "error")
        )
    return None


# The failed server calls of the trace last asked about: the caller asks for each of a
# trace's spans in turn with the same mapping, and a trace is scanned once, not per tool.
_last_scan: tuple[Mapping[str, SpanRecord], list[SpanRecord]] | None = None


def _failed_server_calls(trace_spans: Mapping[str, SpanRecord]) -> list[SpanRecord]:
    global _last_scan
    last = _last_scan
    if last is not None and last[0] is trace_spans:
        return last[1]
    found = [s for s in trace_spans.values() if _failed_server_call(s)]
    _last_scan = (trace_spans, found)
    return found


def _is_tool(span: SpanRecord) -> bool:
    attrs = span.attributes
    kind = attrs.get(OI.SPAN_KIND)
    if isinstance(kind, str):
        return kind.upper() == OI.KIND_TOOL
    return attrs.get(G.GEN_AI_OPERATION_NAME) == A.OP_EXECUTE_TOOL


def _failed_server_call(span: SpanRecord) -> bool:
    """The server's ``tools/call`` span (mcp 2.x), or OpenLLMetry's ``{tool}.tool`` (mcp
    1.x), that failed."""
    if span.status_code != _STATUS_ERROR:
        return False
    if span.scope_name == M.OPENLLMETRY_SCOPE:
        return span.attributes.get(OLL.SPAN_KIND) == M.TOOL_KIND
    return (
        span.scope_name == M.SCOPE
        and span.kind == M.SERVER_KIND
        and span.attributes.get(M.METHOD) == M.TOOLS_CALL
    )


def _framework_span_above(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> Any:
    """The first span above ``span`` that is not an MCP span."""
    current = span
    for _ in range(_HOPS):
        parent = trace_spans.get(current.parent_span_id or "")
        if parent is None:
            return None
        if parent.scope_name not in SCOPES:
            return parent
        current = parent
    return None
