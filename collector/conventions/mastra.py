"""Mastra's spans as its OpenTelemetry exporter (``@mastra/otel-exporter``) writes them: GenAI
operations (invoke_agent, chat, execute_tool) plus keys of its own."""

from __future__ import annotations

__all__ = ["SCOPE", "RUN_INPUT", "RUN_OUTPUT", "ERROR_MESSAGE", "FAILED_FINISH"]

SCOPE = "@mastra/otel-exporter"
# The agent run's input (the prompt as text, or the messages as JSON) and output
# ({"text": ..., "object": ..., "files": [...]}); the run span has no gen_ai messages.
RUN_INPUT = "mastra.agent_run.input"
RUN_OUTPUT = "mastra.agent_run.output"
# A failed span's message (beside error.type, often "unknown").
ERROR_MESSAGE = "error.message"
# A model call whose request failed ends OK with this finish reason and no usage; the error
# is only on the agent run span.
FAILED_FINISH = "error"
