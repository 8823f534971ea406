"""OpenLLMetry (Traceloop) keys beside the GenAI conventions it follows."""

from __future__ import annotations

__all__ = [
    "LANGCHAIN_SCOPE",
    "SPAN_KIND",
    "KIND_WORKFLOW",
    "ENTITY_NAME",
    "ENTITY_INPUT",
    "ENTITY_OUTPUT",
    "LC_AGENT_NAME",
    "OP_EXECUTE_TASK",
    "TASK_NAME",
]

LANGCHAIN_SCOPE = "opentelemetry.instrumentation.langchain"
SPAN_KIND = "traceloop.span.kind"  # workflow, task, tool, llm
KIND_WORKFLOW = "workflow"
ENTITY_NAME = "traceloop.entity.name"
ENTITY_INPUT = "traceloop.entity.input"  # {"inputs": ..., "tags": ..., "metadata": ...}
ENTITY_OUTPUT = "traceloop.entity.output"  # {"outputs": ...}
# LangChain's run metadata, copied under association properties.
LC_AGENT_NAME = "traceloop.association.properties.lc_agent_name"
OP_EXECUTE_TASK = "execute_task"  # a LangGraph node, or a nested graph
TASK_NAME = "gen_ai.task.name"
