"""The conversation shapes (sessions_scenario.py) on AG2 0.x's classic pair (a
``ConversableAgent`` assistant asking for tools, a ``UserProxyAgent`` running them), traced
by AG2's own ``autogen.opentelemetry`` (``ag2_native``) or by OpenInference's AG2 and OpenAI
instrumentors (``ag2_openinference``), in a virtualenv with the packages its entry names: a
session of two chats (the second ``initiate_chat`` keeping the first's history), two tool
calls in one turn with one raising, tools answering odd results, a tool called with a
wrong argument and a tool the agent does not have; run by capture_sessions_more.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

SHAPES = ("parallel", "results", "bad_args", "unknown_tool")
PACKAGES = (
    "ag2",
    "openinference-instrumentation-ag2",
    "openinference-instrumentation-openai",
)


def _pair(llm: ScriptedLLM, tools: S.Tools, instrument: Callable[..., None]) -> tuple[Any, Any]:
    """The assistant and the proxy that runs its tools and ends the chat on the first
    message asking for none."""
    from autogen import ConversableAgent, UserProxyAgent, register_function

    entry = {"model": S.MODEL, "base_url": llm.base_url, "api_key": "none", "max_retries": 0}
    config = {"config_list": [entry], "cache_seed": None}
    assistant = ConversableAgent("session_agent", system_message="Answer.", llm_config=config)
    proxy = UserProxyAgent(
        "user_proxy",
        human_input_mode="NEVER",
        code_execution_config=False,
        is_termination_msg=lambda message: not message.get("tool_calls"),
    )

    # AG2 takes plain functions (not bound methods) and reads their annotations.
    def get_weather(city: str) -> dict[str, Any]:
        return tools.get_weather(city)

    def nothing(key: str) -> str:
        return tools.nothing(key)

    def list_files(folder: str) -> list[dict[str, Any]]:
        return tools.list_files(folder)

    def read_log(name: str) -> str:
        return tools.read_log(name)

    for function in (get_weather, nothing, list_files, read_log):
        description = getattr(S.Tools, function.__name__).__doc__
        register_function(function, caller=assistant, executor=proxy, description=description)
    instrument(proxy, assistant)
    return proxy, assistant


def _play(llm: ScriptedLLM, instrument: Callable[..., None]) -> dict[str, S.Outcome]:
    tools = S.Tools()
    tasks = S.script(llm, "[sessions-ag2]")

    def chat(task: str, pair: tuple[Any, Any] | None = None, **options: Any) -> Any:
        proxy, assistant = pair or _pair(llm, tools, instrument)
        return proxy.initiate_chat(assistant, message=task, max_turns=10, **options).summary

    out = {shape: S.outcome(tasks[shape], lambda t=tasks[shape]: chat(t)) for shape in SHAPES}
    # A session: the second chat of the same pair keeps the first's messages.
    session = _pair(llm, tools, instrument)
    out["greeting"] = S.outcome(tasks["greeting"], lambda: chat(tasks["greeting"], session))
    out["followup"] = S.outcome(S.FOLLOWUP, lambda: chat(S.FOLLOWUP, session, clear_history=False))
    out["tool_calls"] = tools.calls
    return out


def _native(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from autogen.opentelemetry import instrument_agent, instrument_llm_wrapper

    instrument_llm_wrapper(tracer_provider=capture.provider, capture_messages=True)

    def instrument(*agents: Any) -> None:
        for agent in agents:
            instrument_agent(agent, tracer_provider=capture.provider)

    return _play(llm, instrument)


def _openinference(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from openinference.instrumentation.ag2 import AG2Instrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    AG2Instrumentor().instrument(tracer_provider=capture.provider)
    OpenAIInstrumentor().instrument(tracer_provider=capture.provider)

    def instrument(*agents: Any) -> None:
        del agents  # the instrumentor patched every agent's class

    return _play(llm, instrument)


FRAMEWORKS: dict[str, Framework] = {
    "ag2_native": (PACKAGES, _native),
    "ag2_openinference": (PACKAGES, _openinference),
}
