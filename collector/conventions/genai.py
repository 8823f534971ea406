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
]

# General OpenTelemetry semantic conventions (the "exception" span event).
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"

# Deprecated: messages as indexed keys, gen_ai.prompt.N.role / gen_ai.completion.N.content
# (still emitted by OpenLLMetry's instrumentations). Groups: kind, index, field.
INDEXED_MESSAGE = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(role|content|tool_calls.*)$")
