"""Agno's spans as openinference-instrumentation-agno writes them."""

from __future__ import annotations

__all__ = ["MESSAGE_LIST_END", "SCOPE", "TOOL_CALL_LIMIT_REACHED"]

SCOPE = "openinference.instrumentation.agno"
# What Agno answers a tool call past the run's ``tool_call_limit`` with, instead of running
# it (``Model.create_tool_call_limit_error_result``): "Tool call limit reached. Tool call
# {name} not executed. Don't try to execute it again.", a tool message with
# ``tool_call_error`` set, in the next model call's ``input.value`` (Agno's messages).
TOOL_CALL_LIMIT_REACHED = "Tool call limit reached."
# A run given a list of messages: its ``input.value`` is each one's content followed by
# this (``_get_user_message_content``); a run given text holds the text as it is.
MESSAGE_LIST_END = "\n"
