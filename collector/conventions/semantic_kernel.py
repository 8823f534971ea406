"""Semantic Kernel's own GenAI spans: the scopes they come from and its one key of its own."""

from __future__ import annotations

__all__ = ["MODEL_CALL_SCOPE", "FINISH_REASON", "FINISH_REASON_ENUM"]

# Its model calls (chat {model}); invoke_agent and execute_tool spans come from other scopes
# and follow the conventions.
MODEL_CALL_SCOPE = "semantic_kernel.utils.telemetry.model_diagnostics.decorators"
# One reason, written as the enum's str(): "FinishReason.TOOL_CALLS" (the conventions' key is
# the plural gen_ai.response.finish_reasons, a list).
FINISH_REASON = "gen_ai.response.finish_reason"
FINISH_REASON_ENUM = "FinishReason."
