"""Microsoft Agent Framework's own GenAI spans: the scope they come from."""

from __future__ import annotations

__all__ = ["SCOPE", "FINISH_REASONS"]

# Its invoke_agent, chat and execute_tool spans (the global tracer provider's tracer).
SCOPE = "agent_framework"
# The conventions' finish reasons of a model call, a JSON list ("tool_calls", "stop").
FINISH_REASONS = "gen_ai.response.finish_reasons"
