"""The Vercel AI SDK's telemetry keys (``experimental_telemetry``), beside the few GenAI
ones it also sets (``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.response.*``,
``gen_ai.usage.*`` on its model calls; no ``gen_ai.operation.name``)."""

from __future__ import annotations

__all__ = [
    "SCOPE",
    "OPERATION_ID",
    "RUN_OPERATIONS",
    "MODEL_CALL_SUFFIXES",
    "TOOL_CALL",
    "FUNCTION_ID",
    "MODEL_ID",
    "MODEL_PROVIDER",
    "PROMPT",
    "PROMPT_MESSAGES",
    "RESPONSE_TEXT",
    "RESPONSE_OBJECT",
    "RESPONSE_TOOL_CALLS",
    "TOOL_CALL_NAME",
    "TOOL_CALL_ID",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_RESULT",
]

SCOPE = "ai"  # the SDK's tracer when the caller passes none
# Every span names its operation here: the call (ai.generateText), its model calls
# (ai.generateText.doGenerate) and its tools' executions (ai.toolCall).
OPERATION_ID = "ai.operationId"
RUN_OPERATIONS = frozenset(
    {"ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject"}
)
MODEL_CALL_SUFFIXES = (".doGenerate", ".doStream")
TOOL_CALL = "ai.toolCall"
FUNCTION_ID = "ai.telemetry.functionId"  # the caller's name for the call (its agent)
MODEL_ID = "ai.model.id"
MODEL_PROVIDER = "ai.model.provider"
PROMPT = "ai.prompt"  # JSON: {"system"?, "prompt"} or {"system"?, "messages"}
PROMPT_MESSAGES = "ai.prompt.messages"  # a model call's, JSON chat messages with parts
RESPONSE_TEXT = "ai.response.text"
RESPONSE_OBJECT = "ai.response.object"  # generateObject's answer, JSON
RESPONSE_TOOL_CALLS = "ai.response.toolCalls"
TOOL_CALL_NAME = "ai.toolCall.name"
TOOL_CALL_ID = "ai.toolCall.id"
TOOL_CALL_ARGS = "ai.toolCall.args"  # JSON
TOOL_CALL_RESULT = "ai.toolCall.result"  # JSON
