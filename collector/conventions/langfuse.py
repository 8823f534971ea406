"""The Langfuse SDK's spans (version 3 and later, built on OpenTelemetry): keys and values.

Every observation is a span of scope ``langfuse-sdk`` whose ``langfuse.observation.type``
says what it is; ``@observe(as_type=...)``, ``start_as_current_observation`` and Langfuse's
integrations (its OpenAI client wrapper, its LangChain callback) all write these keys.
"""

from __future__ import annotations

__all__ = [
    "SCOPE",
    "OBSERVATION_TYPE",
    "OBSERVATION_INPUT",
    "OBSERVATION_OUTPUT",
    "OBSERVATION_MODEL",
    "OBSERVATION_USAGE",
    "IS_APP_ROOT",
    "TYPE_AGENT",
    "TYPE_TOOL",
    "TYPE_GENERATION",
    "GROUPING_TYPES",
    "CALL_ARGS",
    "CALL_KWARGS",
    "MESSAGES",
    "ROLE",
    "INPUT_TOKENS",
    "OUTPUT_TOKENS",
]

SCOPE = "langfuse-sdk"
OBSERVATION_TYPE = "langfuse.observation.type"
# A decorated call's input is {"args": [...], "kwargs": {...}} as JSON (``self`` and ``cls``
# left out); a generation's is the request's messages, alone or under "messages" beside
# "tools"; an output is the return value (text as it is, else JSON), a generation's output
# the answer's message. A failure sets only the span's status (ERROR, the exception's
# message; no exception event) and Langfuse's level, which the status already tells.
OBSERVATION_INPUT = "langfuse.observation.input"
OBSERVATION_OUTPUT = "langfuse.observation.output"
OBSERVATION_MODEL = "langfuse.observation.model.name"
# JSON object of token counts: the provider's names as the integration got them
# (OpenAI's prompt_tokens / completion_tokens) or Langfuse's own (input / output).
OBSERVATION_USAGE = "langfuse.observation.usage_details"
# Set on the topmost Langfuse observation of a trace (also below a span of another
# instrumentation, such as a web framework's request span).
IS_APP_ROOT = "langfuse.internal.is_app_root"

TYPE_AGENT = "agent"
TYPE_TOOL = "tool"
TYPE_GENERATION = "generation"
# The types that only group what runs below them: ``@observe()``'s default and a chain.
GROUPING_TYPES = frozenset({"span", "chain"})

CALL_ARGS = "args"
CALL_KWARGS = "kwargs"
MESSAGES = "messages"
ROLE = "role"
INPUT_TOKENS = ("input", "prompt_tokens", "input_tokens")
OUTPUT_TOKENS = ("output", "completion_tokens", "output_tokens")
