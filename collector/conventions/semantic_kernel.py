"""Semantic Kernel's own GenAI spans: the scopes they come from and its one key of its own."""

from __future__ import annotations

__all__ = [
    "MODEL_CALL_SCOPE",
    "AGENT_SCOPE",
    "FUNCTION_SCOPE",
    "AGENT_AS_PLUGIN_MESSAGES",
    "FINISH_REASON",
    "FINISH_REASON_ENUM",
]

# Its model calls (chat {model}); invoke_agent and execute_tool spans come from other scopes
# and follow the conventions.
MODEL_CALL_SCOPE = "semantic_kernel.utils.telemetry.model_diagnostics.decorators"
# Its agents' invoke_agent spans. gen_ai.input.messages holds the messages only when they were
# passed positionally (``agent.get_response(task)``); by keyword it is "[]".
AGENT_SCOPE = "semantic_kernel.utils.telemetry.agent_diagnostics.decorators"
# Its kernel functions' execute_tool spans.
FUNCTION_SCOPE = "semantic_kernel.functions.kernel_function"
# An agent another agent uses as a plugin is a kernel function named after it, called with its
# user messages (a string or a list of strings) as this argument, passed on by keyword.
AGENT_AS_PLUGIN_MESSAGES = "messages"
# One reason, written as the enum's str(): "FinishReason.TOOL_CALLS" (the conventions' key is
# the plural gen_ai.response.finish_reasons, a list).
FINISH_REASON = "gen_ai.response.finish_reason"
FINISH_REASON_ENUM = "FinishReason."
