"""AutoGen AgentChat: autogen-core's own GenAI spans, and OpenInference's
(openinference-instrumentation-autogen-agentchat) beside them."""

from __future__ import annotations

import re

__all__ = [
    "CORE_SCOPE",
    "AGENTCHAT_SCOPE",
    "OP_CREATE_AGENT",
    "OP_INVOKE_AGENT",
    "OP_EXECUTE_TOOL",
    "TEAM_RUN_SUFFIX",
    "TASK_RESULT_MESSAGES",
    "TASK_RESULT_STOP_REASON",
    "MESSAGE_TYPE",
    "MESSAGE_SOURCE",
    "MESSAGE_CONTENT",
    "EVENT_TYPE_SUFFIX",
    "USER_SOURCE",
    "TOOL_NOT_FOUND",
    "STEP_LIMIT_STOP_REASONS",
    "TRACEBACK_MARK",
    "OUTPUT_FINISH_REASON",
    "FINISH_FUNCTION_CALLS",
    "TEAM_INPUT_TASK",
    "HANDOFF_DESCRIPTION_PREFIX",
    "HANDOFF_NAME_PREFIX",
    "MESSAGE_REPR",
    "MESSAGE_REPR_CONTENT",
    "MESSAGE_REPR_SOURCE",
]

# autogen-core traces through the global tracer provider: create_agent / invoke_agent
# {agent}, execute_tool {tool} (gen_ai.* keys, ERROR status and error.type on failure).
CORE_SCOPE = "autogen-core"
# OpenInference: an AGENT span {agent}.on_messages_stream, LLM spans
# {Client}.create, TOOL spans {agent}.{tool} with the arguments and the result, and a
# team's CHAIN span {Team}.run_stream (RoundRobinGroupChat, SelectorGroupChat, Swarm, ...).
AGENTCHAT_SCOPE = "openinference.instrumentation.autogen_agentchat"
OP_CREATE_AGENT = "create_agent"
OP_INVOKE_AGENT = "invoke_agent"  # an agent's run (a team's turn, or a sub-agent's)
OP_EXECUTE_TOOL = "execute_tool"
TEAM_RUN_SUFFIX = ".run_stream"

# input.value of a team's span: {"task": text (or messages), ...}. A message object given as
# the task (a HandoffMessage resuming a Swarm that handed over to the user, a TextMessage)
# is there as its pydantic repr: "id='...' source='user' ... content='...' type='...Message'".
TEAM_INPUT_TASK = "task"
MESSAGE_REPR = re.compile(r"(?:^|\s)type='\w+Message'\s*$")
MESSAGE_REPR_CONTENT = re.compile(r"""(?:^|\s)content=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
MESSAGE_REPR_SOURCE = re.compile(r"(?:^|\s)source='([^']*)'")
# output.value of a team's span: the TaskResult as JSON, {"messages": [...], "stop_reason"}.
TASK_RESULT_MESSAGES = "messages"
TASK_RESULT_STOP_REASON = "stop_reason"
MESSAGE_TYPE = "type"  # TextMessage, ToolCallSummaryMessage, HandoffMessage, ...Event
MESSAGE_SOURCE = "source"
MESSAGE_CONTENT = "content"
EVENT_TYPE_SUFFIX = "Event"  # ToolCallRequestEvent, ...: inner events, not chat messages
USER_SOURCE = "user"
# The stop reasons that end a team at a step limit: its ``max_turns`` ("Maximum number of
# turns 3 reached.") and MaxMessageTermination ("Maximum number of messages 4 reached,
# current message count: 4"). Conditions that fire together are joined with ", ".
STEP_LIMIT_STOP_REASONS = re.compile(
    r"Maximum number of turns \d+ reached\.?"
    r"|Maximum number of messages \d+ reached, current message count: \d+"
)
# A team's failure: "BadRequestError: Error code: 400 - ...\nTraceback:\n..." (status message).
TRACEBACK_MARK = "\nTraceback:"

# output.value of an LLM span: the CreateResult, {"finish_reason": "function_calls" | "stop"}.
OUTPUT_FINISH_REASON = "finish_reason"
FINISH_FUNCTION_CALLS = "function_calls"
# A hand-off is a tool: named transfer_to_{target}, described "Handoff to {target}." by default.
HANDOFF_DESCRIPTION_PREFIX = "Handoff to "
HANDOFF_NAME_PREFIX = "transfer_to_"
# What AssistantAgent answers a call of a tool it does not have (its TOOL span, OK, holds it
# as its output; no autogen-core ``execute_tool`` inside): the model is told it as an error.
TOOL_NOT_FOUND = re.compile(r"^Error: tool '(.+)' not found in any workbench$")
