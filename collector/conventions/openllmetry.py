"""OpenLLMetry (Traceloop) keys beside the GenAI conventions it follows."""

from __future__ import annotations

import re

from instrumentation.attributes import TRACELOOP_SPAN_KIND

__all__ = [
    "LANGCHAIN_SCOPE",
    "SDK_SCOPE",
    "MODEL_CALL_SCOPES",
    "SPAN_KIND",
    "KIND_WORKFLOW",
    "KIND_AGENT",
    "KIND_TASK",
    "KIND_TOOL",
    "ENTITY_NAME",
    "ENTITY_INPUT",
    "ENTITY_OUTPUT",
    "LC_AGENT_NAME",
    "OP_EXECUTE_TASK",
    "TASK_NAME",
    "ENTITY_ARGS",
    "ENTITY_KWARGS",
    "REQUEST_TYPE",
    "MODEL_CALL_TYPES",
    "COMPLETION_FINISH_REASON",
    "BEDROCK_SCOPE",
    "USAGE_CACHE_READ_INPUT_TOKENS",
    "USAGE_CACHE_CREATION_INPUT_TOKENS",
]

LANGCHAIN_SCOPE = "opentelemetry.instrumentation.langchain"
# The Traceloop SDK's decorators (@workflow, @agent, @task, @tool in traceloop.sdk.decorators).
SDK_SCOPE = "traceloop.tracer"
# OpenLLMetry's instrumentations of model clients, each its own scope (module name).
MODEL_CALL_SCOPES = frozenset(
    f"opentelemetry.instrumentation.{name}"
    for name in (
        "openai", "openai.v1", "openai.v0", "anthropic", "bedrock", "cohere", "groq", "mistralai",
        "ollama", "together", "vertexai", "google_generativeai", "watsonx", "replicate",
        "writer", "alephalpha", "sagemaker", "transformers", "litellm",
    )
)  # fmt: skip
# OpenLLMetry's Bedrock spans (0.62) count a Converse call's prompt as Bedrock does, the
# cache reads and writes apart from the input tokens: the prompt is their sum.
BEDROCK_SCOPE = "opentelemetry.instrumentation.bedrock"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"  # noqa: S105 - a key
USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"  # noqa: S105
SPAN_KIND = TRACELOOP_SPAN_KIND  # workflow, agent, task, tool (the decorator), llm
KIND_WORKFLOW = "workflow"
KIND_AGENT = "agent"
KIND_TASK = "task"
KIND_TOOL = "tool"
ENTITY_NAME = "traceloop.entity.name"
# LangChain: {"inputs": ..., "tags": ..., "metadata": ...} / {"outputs": ...}. A decorated
# function: {"args": [...], "kwargs": {...}} / its return value, each as JSON.
ENTITY_INPUT = "traceloop.entity.input"
ENTITY_OUTPUT = "traceloop.entity.output"
ENTITY_ARGS = "args"
ENTITY_KWARGS = "kwargs"
# Before the GenAI message attributes, a model call told its kind here (no operation name).
REQUEST_TYPE = "llm.request.type"
MODEL_CALL_TYPES = frozenset({"chat", "completion"})  # not "embedding", "rerank"
COMPLETION_FINISH_REASON = re.compile(r"^gen_ai\.completion\.(\d+)\.finish_reason$")
# LangChain's run metadata, copied under association properties.
LC_AGENT_NAME = "traceloop.association.properties.lc_agent_name"
OP_EXECUTE_TASK = "execute_task"  # a LangGraph node, or a nested graph
TASK_NAME = "gen_ai.task.name"
