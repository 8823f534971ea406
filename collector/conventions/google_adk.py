"""Google ADK's keys (scope ``gcp.vertex.agent``) beside the GenAI ones it sets."""

from __future__ import annotations

__all__ = [
    "SCOPE",
    "LLM_REQUEST",
    "LLM_RESPONSE",
    "TOOL_CALL_ARGS",
    "TOOL_RESPONSE",
    "AGENT_RUN_SPAN",
    "LLM_SPAN",
    "INVOCATION_SPAN",
    "MAX_CALLS_ERROR",
    "MERGED_TOOLS_SPAN",
    "TRANSFER_SPAN",
    "FOREIGN_EVENTS_TEXT",
]

SCOPE = "gcp.vertex.agent"
LLM_REQUEST = "gcp.vertex.agent.llm_request"  # JSON: model, config, contents
LLM_RESPONSE = "gcp.vertex.agent.llm_response"  # JSON: content.parts, usage_metadata
TOOL_CALL_ARGS = "gcp.vertex.agent.tool_call_args"  # JSON
TOOL_RESPONSE = "gcp.vertex.agent.tool_response"  # JSON; a non-dict result as {"result": x}
# ADK 1.x span names (2.x follows the GenAI names: invoke_agent, generate_content).
AGENT_RUN_SPAN = "agent_run ["  # "agent_run [{agent name}]"
LLM_SPAN = "call_llm"
INVOCATION_SPAN = "invocation"  # the runner's span around the root agent
MAX_CALLS_ERROR = "LlmCallsLimitExceededError"
# After several tool calls of one model turn, ADK records their merged responses as one more
# span (tool name "(merged tools)", arguments "N/A"): no call of its own.
MERGED_TOOLS_SPAN = "execute_tool (merged)"
# An LLM agent hands the conversation to one of its sub-agents by calling this tool; that
# agent's run nests below and answers the user.
TRANSFER_SPAN = "execute_tool transfer_to_agent"
# The first text part of the user message ADK makes of another agent's events (a
# LoopAgent's or SequentialAgent's earlier turns): "[agent] said: ..." follows. No request.
FOREIGN_EVENTS_TEXT = "For context:"
