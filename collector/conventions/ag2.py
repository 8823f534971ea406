"""AG2's spans (the ``autogen`` package of ``ag2`` 0.x): its own tracing
(``autogen.opentelemetry``, GenAI keys plus ``ag2.span.type``) and OpenInference's AG2
instrumentation (``{agent}.{method}`` AGENT and TOOL spans)."""

from __future__ import annotations

__all__ = [
    "NATIVE_SCOPE",
    "OPENINFERENCE_SCOPE",
    "SPAN_TYPE",
    "TYPE_CONVERSATION",
    "TYPE_AGENT",
    "TYPE_TOOL",
    "TURN_SPAN_TYPES",
    "MAX_TURNS",
    "TURNS",
    "MAX_TURNS_REACHED",
    "TURN_LIMIT_CUT_OFF",
    "RECIPIENT_NAME",
    "CHAT_INPUT_MESSAGE",
    "TOOL_INPUT_ARGUMENTS",
    "MESSAGE_CONTENT",
]

# autogen.opentelemetry's tracer (instrument_agent, instrument_llm_wrapper, instrument_pattern).
NATIVE_SCOPE = "opentelemetry.instrumentation.ag2"
OPENINFERENCE_SCOPE = "openinference.instrumentation.ag2"

# What a native span is: a chat (initiate_chat, a group chat's run_chat: gen_ai.operation.name
# "conversation"), one agent's reply (invoke_agent), a model call, a tool, and the spans of a
# turn's plumbing (speaker selection, human input).
SPAN_TYPE = "ag2.span.type"
TYPE_CONVERSATION = "conversation"
TYPE_AGENT = "agent"
TYPE_TOOL = "tool"
# Spans that are part of a chat's turn-taking, no step of their own: an agent's reply (its
# model and tool calls below it are the steps), a group chat choosing its next speaker.
TURN_SPAN_TYPES = frozenset({TYPE_AGENT, "speaker_selection", "human_input"})
# A chat's turn limit (``initiate_chat(max_turns=N)``) and the messages it had when it ended:
# AG2 stops after N rounds, each a message and its reply, and logs why in these words.
MAX_TURNS = "gen_ai.conversation.max_turns"
TURNS = "gen_ai.conversation.turns"
MAX_TURNS_REACHED = "Maximum turns ({}) reached"
# What the collector says of a chat that OpenInference's spans show cut off mid-work (they
# record neither the limit nor how many turns it allowed).
TURN_LIMIT_CUT_OFF = "Turn limit reached with a tool call under way"

# OpenInference names its AGENT spans after the agent and the method traced: the chat
# ``{agent}.initiate_chat`` (or ``a_initiate_chat``; input.value {"message", "sender",
# "recipient"}, and only it names the recipient), each reply ``{agent}.generate_reply``; a
# tool span after the function (input.value {"arguments": JSON text, "name"}, output.value
# [succeeded, {"name", "role", "content"}]).
RECIPIENT_NAME = "ag2.recipient.name"
CHAT_INPUT_MESSAGE = "message"
TOOL_INPUT_ARGUMENTS = "arguments"
MESSAGE_CONTENT = "content"
