"""pydantic-ai's keys beside the GenAI conventions it follows."""

from __future__ import annotations

__all__ = [
    "ALL_MESSAGES",
    "AGENT_NAME",
    "MODEL_NAME",
    "FINAL_RESULT",
    "AGGREGATED_INPUT_TOKENS",
    "AGGREGATED_OUTPUT_TOKENS",
]

ALL_MESSAGES = "pydantic_ai.all_messages"  # JSON, GenAI message shape
AGENT_NAME = "agent_name"
MODEL_NAME = "model_name"  # the requested model
FINAL_RESULT = "final_result"  # absent when the run failed
AGGREGATED_INPUT_TOKENS = "gen_ai.aggregated_usage.input_tokens"
AGGREGATED_OUTPUT_TOKENS = "gen_ai.aggregated_usage.output_tokens"
