"""Turn on the OpenTelemetry instrumentation of whichever agent frameworks are installed.

One call, after :func:`instrumentation.configure` (or with your own tracer provider)::

    from instrumentation.auto import instrument
    enabled = instrument()   # e.g. ["pydantic-ai", "openai-agents", "openai"]

What it enables, each only when the framework and its instrumentation are importable:

========================  ==============================================================
``pydantic-ai``           pydantic-ai's own spans, via ``Agent.instrument_all``
``openai-agents``         OpenInference's processor for the OpenAI Agents SDK, installed
                          as the only processor, so nothing goes to OpenAI's trace backend
                          (falls back to OpenLLMetry's ``opentelemetry-instrumentation-
                          openai-agents`` with ``replace_existing_processors``)
``smolagents``            OpenInference's smolagents instrumentor, plus an end to the run
                          span it leaves open when a run raises
``openai``                ``opentelemetry-instrumentation-openai-v2`` for the OpenAI client
``langchain``             LangChain and LangGraph agents via OpenInference's
                          ``openinference-instrumentation-langchain`` (falls back to
                          OpenLLMetry's ``opentelemetry-instrumentation-langchain``)
``langchain-openllmetry`` OpenLLMetry's LangChain instrumentor, only when asked for by name
                          (never together with ``langchain``: one span per callback is enough)
``google-adk``            nothing to switch on: Google ADK traces itself through the global
                          tracer provider (``configure()`` sets it)
``strands``               the same for Strands Agents
``crewai``                OpenInference's CrewAI instrumentor, and its OpenAI one for the
                          model calls of CrewAI's native OpenAI provider
``llama-index``           OpenInference's LlamaIndex instrumentor
``autogen``               OpenInference's AutoGen AgentChat instrumentor (autogen-core
                          adds its own agent and tool spans)
========================  ==============================================================

The last three cannot share this project's environment (their pins clash with the
frameworks above): :data:`SEPARATE_ENVIRONMENT` lists them.

Calling it again with the same provider changes nothing; with another provider, it
re-instruments onto that one. It never raises: a framework that is missing, or whose
instrumentation fails, is left out of the returned list (and logged).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from instrumentation.agents_sdk_spans import complete_agents_sdk_spans
from instrumentation.auto_openinference import enable_autogen, enable_crewai, enable_llama_index

__all__ = ["FRAMEWORKS", "SEPARATE_ENVIRONMENT", "instrument", "uninstrument"]

logger = logging.getLogger(__name__)

FRAMEWORKS = (
    "pydantic-ai",
    "openai-agents",
    "smolagents",
    "openai",
    "langchain",
    "google-adk",
    "strands",
)
# Enabled by default too, when installed: each needs an environment of its own.
SEPARATE_ENVIRONMENT = ("crewai", "llama-index", "autogen")
# Accepted in ``frameworks=`` but never enabled by default: an alternative to one above.
ALTERNATIVES = ("langchain-openllmetry",)

# name -> (tracer provider it was enabled with, how to undo it)
_enabled: dict[str, tuple[Any, Callable[[], None]]] = {}


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    frameworks: Iterable[str] | None = None,
) -> list[str]:
    """Enable the instrumentation of every installed framework; return the names enabled.

    ``tracer_provider`` defaults to the global one. ``frameworks`` limits the choice to some
    of :data:`FRAMEWORKS` (for instance, leave out ``"openai"`` when a framework already
    traces its model calls and one span per call is enough); a single name may be given
    as a string. Raises ValueError for a name not listed above.
    """
    default = [*FRAMEWORKS, *SEPARATE_ENVIRONMENT]
    if isinstance(frameworks, str):  # one name, not its letters
        frameworks = [frameworks]
    wanted = list(default if frameworks is None else frameworks)
    known = (*FRAMEWORKS, *SEPARATE_ENVIRONMENT, *ALTERNATIVES)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown frameworks {unknown}; choose from {list(known)}")
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    enablers: dict[str, Callable[[Any], Callable[[], None] | None]] = {
        "pydantic-ai": _enable_pydantic_ai,
        "openai-agents": _enable_openai_agents,
        "smolagents": _enable_smolagents,
        "openai": _enable_openai,
        "langchain": _enable_langchain,
        "langchain-openllmetry": _enable_langchain_openllmetry,
        "google-adk": _native("google.adk"),
        "strands": _native("strands"),
        "crewai": enable_crewai,
        "llama-index": enable_llama_index,
        "autogen": enable_autogen,
    }
    enabled: list[str] = []
    for name in wanted:
        current = _enabled.get(name)
        if current is not None and current[0] is provider:
            enabled.append(name)
            continue
        if current is not None:
            _undo(name)
        try:
            undo = enablers[name](provider)
        except Exception:  # a broken third-party instrumentor must not break the agent
            logger.warning("could not instrument %s", name, exc_info=True)
            continue
        if undo is not None:
            _enabled[name] = (provider, undo)
            enabled.append(name)
    return enabled


def uninstrument() -> None:
    """Undo everything :func:`instrument` enabled."""
    for name in list(_enabled):
        _undo(name)


def _undo(name: str) -> None:
    _, undo = _enabled.pop(name)
    try:
        undo()
    except Exception:
        logger.warning("could not uninstrument %s", name, exc_info=True)


def _installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except (ImportError, ValueError):
        return False


def _enable_pydantic_ai(provider: Any) -> Callable[[], None] | None:
    if not _installed("pydantic_ai"):
        return None
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    return lambda: Agent.instrument_all(False)


def _enable_openai_agents(provider: Any) -> Callable[[], None] | None:
    if not _installed("agents"):
        return None
    if _installed("openinference.instrumentation.openai_agents"):
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

        # exclusive_processor (the default) replaces the SDK's exporter to OpenAI's backend.
        oi_instrumentor = OpenAIAgentsInstrumentor()
        oi_instrumentor.instrument(tracer_provider=provider, exclusive_processor=True)
        complete_agents_sdk_spans()  # agent names at start, a tripped guardrail's input
        return oi_instrumentor.uninstrument
    if _installed("opentelemetry.instrumentation.openai_agents"):
        from opentelemetry.instrumentation.openai_agents import (
            OpenAIAgentsInstrumentor as OpenLLMetryAgentsInstrumentor,
        )

        oll_instrumentor = OpenLLMetryAgentsInstrumentor(replace_existing_processors=True)
        oll_instrumentor.instrument(tracer_provider=provider)
        return oll_instrumentor.uninstrument
    logger.info("openai-agents is installed but no instrumentation for it is")
    return None


def _enable_smolagents(provider: Any) -> Callable[[], None] | None:
    if not _installed("smolagents", "openinference.instrumentation.smolagents"):
        return None
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor

    smol_instrumentor = SmolagentsInstrumentor()
    smol_instrumentor.instrument(tracer_provider=provider)
    _end_run_span_on_error()
    # The instrumentor's uninstrument puts the original MultiStepAgent.run back, which
    # removes the wrapper above too.
    return smol_instrumentor.uninstrument


def _end_run_span_on_error() -> None:
    """End the run span OpenInference's smolagents wrapper leaves open when a run raises.

    openinference-instrumentation-smolagents (0.1.43) records the exception on its
    ``<agent>.run`` span but neither ends it nor detaches its context: the failed run is
    never exported and later runs in the same thread nest under it. Ctrl-C (a
    ``KeyboardInterrupt``, no ``Exception``) it does not even record: the span says so
    here, or the run would look completed.
    """
    from smolagents import MultiStepAgent

    # The raw class attribute (wrapt's FunctionWrapper), bound per call like a method.
    traced_run = MultiStepAgent.__dict__["run"]
    if getattr(traced_run, "_agent_audit_wrapped", False):
        return

    @functools.wraps(traced_run)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = otel_context.get_current()
        before_span = trace.get_current_span(before)
        try:
            return traced_run.__get__(self, type(self))(*args, **kwargs)
        except BaseException as exc:
            left_open = trace.get_current_span()
            if left_open is not before_span and left_open.is_recording():
                if not isinstance(exc, Exception):  # Ctrl-C, a cancellation: not recorded
                    left_open.record_exception(exc)
                    left_open.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                left_open.end()
                otel_context.attach(before)
            raise

    run._agent_audit_wrapped = True  # type: ignore[attr-defined]
    MultiStepAgent.run = run  # type: ignore[method-assign]


def _enable_openai(provider: Any) -> Callable[[], None] | None:
    if not _installed("openai", "opentelemetry.instrumentation.openai_v2"):
        return None
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    openai_instrumentor = OpenAIInstrumentor()
    openai_instrumentor.instrument(tracer_provider=provider)
    return openai_instrumentor.uninstrument


def _enable_langchain(provider: Any) -> Callable[[], None] | None:
    if not _installed("langchain_core"):
        return None
    if _installed("openinference.instrumentation.langchain"):
        from openinference.instrumentation.langchain import LangChainInstrumentor

        oi_instrumentor = LangChainInstrumentor()
        oi_instrumentor.instrument(tracer_provider=provider)
        return oi_instrumentor.uninstrument
    return _enable_langchain_openllmetry(provider)


def _enable_langchain_openllmetry(provider: Any) -> Callable[[], None] | None:
    if not _installed("langchain_core", "opentelemetry.instrumentation.langchain"):
        return None
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor

    oll_instrumentor = LangchainInstrumentor()
    oll_instrumentor.instrument(tracer_provider=provider)
    return oll_instrumentor.uninstrument


def _native(module: str) -> Callable[[Any], Callable[[], None] | None]:
    """A framework that emits OTel GenAI spans itself through the global tracer provider."""

    def enable(provider: Any) -> Callable[[], None] | None:
        if not _installed(module):
            return None
        if provider is not trace.get_tracer_provider():
            logger.info("%s traces only through the global tracer provider", module)
        return lambda: None

    return enable
