"""Enablers for the frameworks whose pins keep them out of this project's own environment
(CrewAI, LlamaIndex, AutoGen AgentChat): OpenInference instrumentors, imported only when
installed. Used by :func:`instrumentation.auto.instrument`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

__all__ = ["enable_crewai", "enable_llama_index", "enable_autogen"]


def _installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except (ImportError, ValueError):
        return False


def enable_crewai(provider: Any) -> Callable[[], None] | None:
    """CrewAI's crews, tasks, agents and tools; its native OpenAI provider's model calls
    through OpenInference's OpenAI instrumentor (CrewAI's instrumentor traces none)."""
    if not _installed("crewai", "openinference.instrumentation.crewai"):
        return None
    from openinference.instrumentation.crewai import CrewAIInstrumentor

    crew = CrewAIInstrumentor()
    crew.instrument(tracer_provider=provider)
    undoes = [crew.uninstrument]
    if _installed("openai", "openinference.instrumentation.openai"):
        from openinference.instrumentation.openai import OpenAIInstrumentor

        client = OpenAIInstrumentor()
        client.instrument(tracer_provider=provider)
        undoes.append(client.uninstrument)

    def undo() -> None:
        for one in undoes:
            one()

    return undo


def enable_llama_index(provider: Any) -> Callable[[], None] | None:
    """LlamaIndex agents and workflows, model calls and tools."""
    if not _installed("llama_index.core", "openinference.instrumentation.llama_index"):
        return None
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    return instrumentor.uninstrument


def enable_autogen(provider: Any) -> Callable[[], None] | None:
    """AutoGen AgentChat's model calls and tools (autogen-core adds its own agent and tool
    spans through the global tracer provider)."""
    if not _installed("autogen_agentchat", "openinference.instrumentation.autogen_agentchat"):
        return None
    from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor

    instrumentor = AutogenAgentChatInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    return instrumentor.uninstrument
