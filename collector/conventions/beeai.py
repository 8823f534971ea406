"""BeeAI Framework's spans as openinference-instrumentation-beeai writes them: keys and names."""

from __future__ import annotations

import re

__all__ = [
    "SCOPE",
    "CLASS_NAME",
    "EVENT_PATH",
    "CALL_INPUT",
    "FINAL_ANSWER_TOOLS",
    "MAX_ITERATIONS",
    "EXPLAINED_ERROR",
    "EVENT_START",
    "EVENTS_ENDED",
]

SCOPE = "openinference.instrumentation.beeai"
# A traced object (agent, chat model, tool, workflow) names its class; a span the
# instrumentation adds for one of its emitter events (a tool's or a model call's "error", a
# RequirementAgent's "final_answer") names the event's path instead, and takes its parent's
# span kind: it is no run and no step of its own.
CLASS_NAME = "metadata.class_name"
EVENT_PATH = "metadata.path"
# A tool's input.value: {"input": {arguments}, "options": ...}.
CALL_INPUT = "input"
# The tool a RequirementAgent answers with (final_answer_as_tool, the default).
FINAL_ANSWER_TOOLS = frozenset({"final_answer"})
# What an agent raises at its iteration limit (``max_iterations``; RequirementAgent,
# ToolCallingAgent and ReActAgent alike): "Agent was not able to resolve the task in N
# iterations."
MAX_ITERATIONS = re.compile(r"not able to resolve the task in \d+ iterations")
# A FrameworkError's explanation (output.value of a failed span): its class, module and
# message, then one indented line per cause; "Context: {...}" lines between.
EXPLAINED_ERROR = re.compile(r"^\s*(\w+)\(([\w.]+)\): (.*)$")
# Every run of a BeeAI object (agent, tool, chat model) emits "start", then "success" or
# "error", then "finish"; the instrumentation records each as a span event named
# "{event} ({path})". A cancellation (asyncio's, or Ctrl-C: no Exception) skips both
# "success" and "error".
EVENT_START = "start"
EVENTS_ENDED = frozenset({"success", "error"})
