"""OpenTelemetry GenAI semantic conventions: keys the collector reads beyond ours.

The current names the instrumentation writes are in ``instrumentation.attributes``
and re-exported here, so a mapping module reads every GenAI key from one place.

OpenLLMetry (traceloop) has no module of its own: of its spans the collector reads
only the deprecated GenAI message keys (``gen_ai.prompt.N.*`` and
``gen_ai.completion.N.*``, :data:`INDEXED_MESSAGE`), which belong to this
convention, and no ``traceloop.*`` key (the ``llm.*`` keys it reads are
OpenInference's, in ``openinference``).
"""

from __future__ import annotations

import re

from instrumentation.attributes import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_SYSTEM,
    GEN_AI_TOOL_CALL_ID,
)

__all__ = [
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_SYSTEM",
    "EXCEPTION_TYPE",
    "EXCEPTION_MESSAGE",
    "INDEXED_MESSAGE",
    "GEN_AI_TOOL_CALL_ID",
    "OP_INVOKE_WORKFLOW",
    "GEN_AI_WORKFLOW_NAME",
    "EVENT_OPERATION_DETAILS",
    "MESSAGE_EVENT_ROLES",
    "EVENT_SYSTEM_MESSAGE",
    "EVENT_USER_MESSAGE",
    "EVENT_ASSISTANT_MESSAGE",
    "EVENT_TOOL_MESSAGE",
    "EVENT_CHOICE",
    "EVENT_CONTENT_PROMPT",
    "EVENT_CONTENT_COMPLETION",
    "GEN_AI_PROMPT",
    "GEN_AI_COMPLETION",
    "GEN_AI_RESPONSE_ID",
]

# The id the model server gave its answer: the same on every span tracing one call.
GEN_AI_RESPONSE_ID = "gen_ai.response.id"

# General OpenTelemetry semantic conventions (the "exception" span event).
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"

# Deprecated: messages as indexed keys, gen_ai.prompt.N.role / gen_ai.completion.N.content
# (still emitted by OpenLLMetry's instrumentations). Groups: kind, index, field.
INDEXED_MESSAGE = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(role|content|tool_calls.*)$")

# Messages as span events, in the three forms the conventions have had (an
# instrumentation that logs them as log records instead sends none to a trace receiver):
# - since 1.37, one event holding gen_ai.input.messages / gen_ai.output.messages (parts shape);
EVENT_OPERATION_DETAILS = "gen_ai.client.inference.operation.details"
# - 1.28 to 1.36, an event per message: {"content", "tool_calls", "id" (a tool message's call)}
#   named after its role, and one gen_ai.choice per answer: {"index", "finish_reason", "message"};
EVENT_SYSTEM_MESSAGE = "gen_ai.system.message"
EVENT_USER_MESSAGE = "gen_ai.user.message"
EVENT_ASSISTANT_MESSAGE = "gen_ai.assistant.message"
EVENT_TOOL_MESSAGE = "gen_ai.tool.message"
MESSAGE_EVENT_ROLES = {
    EVENT_SYSTEM_MESSAGE: "system",
    EVENT_USER_MESSAGE: "user",
    EVENT_ASSISTANT_MESSAGE: "assistant",
    EVENT_TOOL_MESSAGE: "tool",
}
EVENT_CHOICE = "gen_ai.choice"
# - 1.26 and 1.27, the whole prompt and completion as JSON chat messages in one event each.
#   Some instrumentations set the same keys as span attributes.
EVENT_CONTENT_PROMPT = "gen_ai.content.prompt"
EVENT_CONTENT_COMPLETION = "gen_ai.content.completion"
GEN_AI_PROMPT = "gen_ai.prompt"
GEN_AI_COMPLETION = "gen_ai.completion"

# A workflow of agents (1.38 and later): the run its agents' invoke_agent spans nest under.
OP_INVOKE_WORKFLOW = "invoke_workflow"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
