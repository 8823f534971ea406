"""AutoGen AgentChat: autogen-core's own GenAI spans, and OpenInference's
(openinference-instrumentation-autogen-agentchat) beside them."""

from __future__ import annotations

__all__ = ["CORE_SCOPE", "AGENTCHAT_SCOPE", "OP_CREATE_AGENT", "OP_EXECUTE_TOOL"]

# autogen-core traces through the global tracer provider: create_agent / invoke_agent
# {agent}, execute_tool {tool} (gen_ai.* keys, ERROR status and error.type on failure).
CORE_SCOPE = "autogen-core"
# OpenInference: an AGENT span {agent}.on_messages_stream, LLM spans
# {Client}.create, TOOL spans {agent}.{tool} with the arguments and the result.
AGENTCHAT_SCOPE = "openinference.instrumentation.autogen_agentchat"
OP_CREATE_AGENT = "create_agent"
OP_EXECUTE_TOOL = "execute_tool"
