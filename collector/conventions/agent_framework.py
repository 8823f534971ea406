"""Microsoft Agent Framework's own GenAI spans: the scope they come from."""

from __future__ import annotations

__all__ = ["SCOPE"]

# Its invoke_agent, chat and execute_tool spans (the global tracer provider's tracer).
SCOPE = "agent_framework"
# A model call's finish reasons are the conventions' own key
# (instrumentation.attributes.GEN_AI_RESPONSE_FINISH_REASONS, a JSON list here).
