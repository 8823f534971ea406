"""Haystack's spans as openinference-instrumentation-haystack writes them: names and keys."""

from __future__ import annotations

import re

__all__ = [
    "SCOPE",
    "RUN_METHODS",
    "AGENT_CLASS_SUFFIX",
    "PIPELINE_DATA",
    "MESSAGES",
    "LAST_MESSAGE",
    "REPLIES",
    "FINISH_REASON",
    "EXIT_REASON",
    "EXIT_MAX_STEPS",
    "TOOL_FAILURE",
]

SCOPE = "openinference.instrumentation.haystack"
# Spans are named "{class}.{method}": a component's or a pipeline's run.
RUN_METHODS = frozenset({"run", "run_async", "run_async_generator"})
# An Agent component (haystack.components.agents.Agent, or a class derived from it and named
# so) is a CHAIN span like any component: told by its class name.
AGENT_CLASS_SUFFIX = "Agent"
# A pipeline's input.value: {"data": {component: {input: value}}, "include_outputs_from": ...}.
PIPELINE_DATA = "data"
# input.value / output.value keys holding ChatMessage reprs: an Agent's and a chat generator's
# "messages", an Agent's "last_message", a generator's "replies".
MESSAGES = "messages"
LAST_MESSAGE = "last_message"
REPLIES = "replies"
# A reply's meta, inside its repr: {'model': ..., 'finish_reason': 'tool_calls', ...}.
FINISH_REASON = re.compile(r"'finish_reason': '([A-Za-z_-]+)'")
# An Agent's output says why it stopped: "text", a tool's name (its exit_conditions),
# "length", "content_filter", or "max_agent_steps" (its step limit).
EXIT_REASON = "exit_reason"
EXIT_MAX_STEPS = "max_agent_steps"
# A tool that raised, as Haystack words it (the ToolInvocationError an Agent raises with
# raise_on_tool_invocation_failure=True, and the text sent to the model otherwise).
TOOL_FAILURE = re.compile(
    r"Failed to invoke Tool `(?P<name>[^`]+)` with parameters (?P<args>\{.*?\})\. Error: ",
    re.DOTALL,
)
