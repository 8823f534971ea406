"""The ``mcp`` SDK's own spans (2.x traces every message it sends and handles): keys and names."""

from __future__ import annotations

__all__ = ["SCOPE", "OPENLLMETRY_SCOPE", "METHOD", "TOOLS_CALL", "SERVER_KIND", "TOOL_KIND"]

SCOPE = "mcp-python-sdk"
# mcp 1.x has no spans of its own; OpenLLMetry's opentelemetry-instrumentation-mcp traces it:
# "{method}.mcp" spans, a "ResponseStreamWriter" below each, and, for a tool called, a
# "{tool}.tool" span (traceloop.span.kind "tool", the call and its result as
# traceloop.entity.input / .output; ERROR with error.type "tool_error" when it answered
# isError) under the caller's span.
OPENLLMETRY_SCOPE = "opentelemetry.instrumentation.mcp.instrumentation"
TOOL_KIND = "tool"
# Both sides name the JSON-RPC method: the client's span "MCP send tools/call {tool}"
# (CLIENT), the server's "tools/call {tool}" (SERVER, gen_ai.operation.name execute_tool,
# gen_ai.tool.name; no arguments, no result). The client sends its context in the request's
# _meta, so a server in another process traces into the agent's trace.
METHOD = "mcp.method.name"
TOOLS_CALL = "tools/call"
SERVER_KIND = 2  # OTLP SPAN_KIND_SERVER
# A tool that answered isError: the server span is ERROR with error.type "tool_error" and no
# description (a protocol error: error.type the JSON-RPC code).
