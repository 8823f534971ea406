"""MLflow Tracing's own span keys (``@mlflow.trace``, ``mlflow.start_span``, its autologging
integrations), as exported over OTLP: scope ``mlflow.tracing.provider``.

Every value is JSON (a text too is JSON-quoted). ``mlflow.spanType`` says what a span is;
the inputs are the decorated function's arguments bound to their names (an object), an
autologged model call's request keyword arguments; the outputs the return value, an
OpenAI call's response object. With ``MLFLOW_ENABLE_OTEL_GENAI_SEMCONV=true`` MLflow writes
the GenAI conventions instead, under the same scope, and none of these keys.
"""

from __future__ import annotations

__all__ = [
    "SCOPE",
    "SPAN_TYPE",
    "INPUTS",
    "OUTPUTS",
    "MODEL",
    "USAGE",
    "RUN_TYPES",
    "TOOL_TYPES",
    "MODEL_TYPES",
    "GROUPING_TYPES",
    "MESSAGES",
    "INPUT_TOKENS",
    "OUTPUT_TOKENS",
]

SCOPE = "mlflow.tracing.provider"
SPAN_TYPE = "mlflow.spanType"
INPUTS = "mlflow.spanInputs"
OUTPUTS = "mlflow.spanOutputs"
# The model that answered (an autologged call's response model); the requested one is
# only in the inputs.
MODEL = "mlflow.llm.model"
# {"input_tokens", "output_tokens", "total_tokens"}.
USAGE = "mlflow.chat.tokenUsage"

RUN_TYPES = frozenset({"AGENT"})
TOOL_TYPES = frozenset({"TOOL"})
MODEL_TYPES = frozenset({"LLM", "CHAT_MODEL"})
# ``@mlflow.trace``'s default and the types that only group what runs below them.
GROUPING_TYPES = frozenset({"UNKNOWN", "CHAIN", "TASK", "WORKFLOW"})

MESSAGES = "messages"
INPUT_TOKENS = "input_tokens"
OUTPUT_TOKENS = "output_tokens"
