"""pydantic-ai's keys beside the GenAI conventions it follows."""

from __future__ import annotations

import re

__all__ = [
    "ALL_MESSAGES",
    "NEW_MESSAGE_INDEX",
    "AGENT_NAME",
    "MODEL_NAME",
    "FINAL_RESULT",
    "AGGREGATED_INPUT_TOKENS",
    "AGGREGATED_OUTPUT_TOKENS",
    "SCOPE",
    "USAGE_LIMIT_ERROR",
    "STEP_LIMITS",
    "V2_TOOL_SPAN",
    "V2_TOOLS_SPAN",
    "V1_ALL_MESSAGES_EVENTS",
    "V1_EVENT_NAME",
    "V2_TOOL_ARGUMENTS",
    "V2_TOOL_RESPONSE",
    "UNKNOWN_TOOL",
]

SCOPE = "pydantic-ai"
# Raised by UsageLimits; its message names the limit. The request and tool-call limits bound
# the agent's loop (its step limit); token and cost limits are budgets.
USAGE_LIMIT_ERROR = "UsageLimitExceeded"
STEP_LIMITS = ("request_limit", "tool_calls_limit")

ALL_MESSAGES = "pydantic_ai.all_messages"  # JSON, GenAI message shape
# Where this run's messages start in ALL_MESSAGES (absent when there was no history).
NEW_MESSAGE_INDEX = "pydantic_ai.new_message_index"
AGENT_NAME = "agent_name"
MODEL_NAME = "model_name"  # the requested model
FINAL_RESULT = "final_result"  # absent when the run failed
AGGREGATED_INPUT_TOKENS = "gen_ai.aggregated_usage.input_tokens"
AGGREGATED_OUTPUT_TOKENS = "gen_ai.aggregated_usage.output_tokens"

# Instrumentation version 2 (InstrumentationSettings(version=2)) names a tool span "running
# tool" (the tool only in gen_ai.tool.name) and keeps the call in keys of its own.
V2_TOOL_SPAN = "running tool"
# pydantic-ai 1.0 (versions 1 and 2): the run span has no gen_ai.operation.name and carries
# the run's tokens as gen_ai.usage.*; a wrapper span around each round of tool calls.
V2_TOOLS_SPAN = "running tools"
V2_TOOL_ARGUMENTS = "tool_arguments"  # JSON text, as the model sent it
V2_TOOL_RESPONSE = "tool_response"  # text; JSON for a non-str result
# Version 1 (pydantic-ai 1.0): the run's messages as GenAI events in one JSON list,
# each with its content, role and event name (the GenAI conventions' message events).
V1_ALL_MESSAGES_EVENTS = "all_messages_events"
V1_EVENT_NAME = "event.name"  # in each of those events
# What pydantic-ai answers a call of a tool the agent does not have (no tool span runs),
# a ``tool_call_response`` part of the next request: "Unknown tool name: 'get_wether'.
# Available tools: ..." (ToolManager).
UNKNOWN_TOOL = re.compile(r"^Unknown tool name: '(.+?)'\.")
