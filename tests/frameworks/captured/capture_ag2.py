"""Run AG2 agents (the ``autogen`` package of ``ag2`` 0.x, the AutoGen 0.2 line) against
the scripted model and write the spans they exported, as OTLP protobuf, plus what AG2
returned.

    VENV/bin/python -m tests.frameworks.captured.capture_ag2 MODE [OUT_DIR]

MODE is ``native`` (AG2's own ``autogen.opentelemetry``: ``instrument_agent`` on each
agent, ``instrument_pattern`` on a group chat's pattern, ``instrument_llm_wrapper`` with
``capture_messages=True``) or ``openinference`` (``openinference-instrumentation-ag2``,
which traces no model call, with ``openinference-instrumentation-openai`` for those, as
OpenInference's AG2 guide pairs them). VENV holds ``ag2[openai]`` (below 1.0), both
instrumentations and ``opentelemetry-sdk``; the versions are written into
``ag2_<mode>.expected.json``.

The shared agent is AG2's classic pair: an assistant that asks for tools and a
``UserProxyAgent`` that runs them (``register_function(caller=..., executor=...)``), the
proxy opening the chat with ``initiate_chat``. Besides it, a failing model, the same chat
stopped by ``max_turns`` while the assistant still asks for a tool, a group
chat (``initiate_group_chat`` with a ``DefaultPattern``) whose triage agent hands the
conversation over to a converter agent through an LLM hand-off condition, and a tool that
opens a chat of its own with another pair (a sub-agent).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from autogen import ConversableAgent, UserProxyAgent, register_function
from autogen.agentchat import initiate_group_chat
from autogen.agentchat.group import AgentTarget, OnCondition, StringLLMCondition, TerminateTarget
from autogen.agentchat.group.patterns import DefaultPattern

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture, failure_seen
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
MODEL = "scripted-ag2"
PACKAGES = (
    "ag2",
    "openai",
    "openinference-instrumentation-ag2",
    "openinference-instrumentation-openai",
    "opentelemetry-sdk",
)
GROUP_TASK = "[ag2-group] Convert 18C to Fahrenheit."
GROUP_ANSWER = "18C is 64.4F."
LIMIT_TURNS = 2
PARENT_TASK = "[ag2-parent] Ask the converter for 18C."
CHILD_TASK = "[ag2-child] 18C in F?"


def _llm_config(llm: ScriptedLLM) -> dict[str, Any]:
    entry = {"model": MODEL, "base_url": llm.base_url, "api_key": "none", "max_retries": 0}
    return {"config_list": [entry], "cache_seed": None}


def _pair(llm: ScriptedLLM, tools: S.Tools) -> tuple[UserProxyAgent, ConversableAgent]:
    """The assistant asking for tools and the proxy running them; the proxy ends the chat
    on the first message that asks for no tool."""
    assistant = ConversableAgent(
        "assistant", system_message="Answer briefly.", llm_config=_llm_config(llm)
    )
    proxy = UserProxyAgent(
        "user_proxy",
        human_input_mode="NEVER",
        code_execution_config=False,
        is_termination_msg=lambda message: not message.get("tool_calls"),
    )

    # AG2 takes plain functions (not bound methods) and reads their annotations.
    def get_weather(city: str) -> dict[str, Any]:
        return tools.get_weather(city)

    def to_fahrenheit(celsius: float) -> float:
        return S.Tools.to_fahrenheit(celsius)

    for function, description in ((get_weather, "The current weather in a city."),
                                  (to_fahrenheit, "Celsius to Fahrenheit.")):  # fmt: skip
        register_function(function, caller=assistant, executor=proxy, description=description)
    return proxy, assistant


def _tool_calls(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool calls of a chat history as (name, arguments, result, failed), from the
    messages AG2 kept: the assistant's ``tool_calls`` and the proxy's ``tool_responses``."""
    calls: dict[str, dict[str, Any]] = {}
    for message in history:
        for call in message.get("tool_calls") or []:
            function = call["function"]
            calls[call["id"]] = {"name": function["name"],
                                 "args": json.loads(function["arguments"])}  # fmt: skip
        for response in message.get("tool_responses") or []:
            content = str(response["content"])
            calls[response["tool_call_id"]].update(
                result=content, error=content.startswith("Error:")
            )
    return list(calls.values())


def _chat(capture: Capture, llm: ScriptedLLM, instrument: Any) -> None:
    task, failing = S.script(llm, "[ag2]")
    proxy, assistant = _pair(llm, S.Tools())
    instrument(proxy, assistant)
    done = proxy.initiate_chat(assistant, message=task, max_turns=10)
    usage = done.cost["usage_including_cached_inference"]
    served = next(k for k in usage if k != "total_cost")
    capture.expected["success"] = {
        "task": task,
        "answer": done.summary,
        "tools": _tool_calls(done.chat_history),
        "model_calls": len(llm.requests_for(task)),
        "served_model": served,
        "input_tokens": usage[served]["prompt_tokens"],
        "output_tokens": usage[served]["completion_tokens"],
    }
    proxy, assistant = _pair(llm, S.Tools())
    instrument(proxy, assistant)
    capture.expected["fails"] = failure_seen(
        failing, lambda: proxy.initiate_chat(assistant, message=failing, max_turns=10)
    )
    # The same agent given two turns: AG2 stops the chat ("Maximum turns (2) reached") while
    # the assistant still asks for a tool.
    limited, _ = S.script(llm, "[ag2-limit]")
    proxy, assistant = _pair(llm, S.Tools())
    instrument(proxy, assistant)
    cut = proxy.initiate_chat(assistant, message=limited, max_turns=LIMIT_TURNS)
    capture.expected["limit"] = {
        "task": limited,
        "summary": cut.summary,
        "max_turns": LIMIT_TURNS,
        "tools": _tool_calls(cut.chat_history),
        "model_calls": len(llm.requests_for(limited)),
    }


def _sub_chat(capture: Capture, llm: ScriptedLLM, instrument: Any) -> None:
    """The proxy's ``ask_converter`` tool opens a chat between two other agents and
    returns its summary."""
    llm.script(PARENT_TASK, [call_tool("ask_converter", {"task": CHILD_TASK}),
                             answer("The converter says 64.4F.")])  # fmt: skip
    llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
    inner_proxy, converter = _pair(llm, S.Tools())
    instrument(inner_proxy, converter)
    config = _llm_config(llm)
    manager = ConversableAgent("manager", system_message="Delegate.", llm_config=config)
    proxy = UserProxyAgent(
        "user_proxy",
        human_input_mode="NEVER",
        code_execution_config=False,
        is_termination_msg=lambda message: not message.get("tool_calls"),
    )

    def ask_converter(task: str) -> str:
        return str(inner_proxy.initiate_chat(converter, message=task, max_turns=10).summary)

    register_function(ask_converter, caller=manager, executor=proxy,
                      description="Ask the converter.")  # fmt: skip
    instrument(proxy, manager)
    done = proxy.initiate_chat(manager, message=PARENT_TASK, max_turns=10)
    capture.expected["sub_agent"] = {
        "task": PARENT_TASK,
        "answer": done.summary,
        "tools": _tool_calls(done.chat_history),
        "sub_task": CHILD_TASK,
    }


def _group(capture: Capture, llm: ScriptedLLM, instrument_pattern: Any) -> None:
    """A triage agent hands over to a converter (an LLM condition: AG2 gives the triage
    model a ``transfer_to_converter_1`` tool); the converter runs ``to_fahrenheit`` itself
    (its own tool) and answers; the chat then ends (``TerminateTarget``)."""
    llm.script(
        GROUP_TASK,
        [
            call_tool("transfer_to_converter_1", {}, input_tokens=50, output_tokens=5),
            call_tool("to_fahrenheit", {"celsius": 18}, input_tokens=60, output_tokens=6),
            answer(GROUP_ANSWER, input_tokens=70, output_tokens=7),
        ],
    )
    config = _llm_config(llm)
    triage = ConversableAgent("triage", system_message="Route the request.", llm_config=config)
    converter = ConversableAgent(
        "converter",
        system_message="Convert temperatures.",
        llm_config=config,
        functions=[S.Tools.to_fahrenheit],
    )
    triage.handoffs.add_llm_conditions([
        OnCondition(
            target=AgentTarget(converter),
            condition=StringLLMCondition(prompt="When a temperature must be converted."),
        )
    ])  # fmt: skip
    user = ConversableAgent("user", human_input_mode="NEVER")
    pattern = DefaultPattern(
        initial_agent=triage,
        agents=[triage, converter],
        user_agent=user,
        group_after_work=TerminateTarget(),
    )
    instrument_pattern(pattern)
    done, _, last = initiate_group_chat(pattern=pattern, messages=GROUP_TASK, max_rounds=10)
    capture.expected["group"] = {
        "task": GROUP_TASK,
        "answer": done.summary,
        "last_speaker": last.name,
        "speakers": [m.get("name") for m in done.chat_history],
        "tools": _tool_calls(done.chat_history),
        "model_calls": len(llm.requests_for(GROUP_TASK)),
    }


def main(mode: str, out: Path) -> None:
    capture = Capture(out, PACKAGES)
    provider = capture.provider
    if mode == "native":
        from autogen.opentelemetry import instrument_agent, instrument_llm_wrapper
        from autogen.opentelemetry import instrument_pattern as pattern_tracing

        instrument_llm_wrapper(tracer_provider=provider, capture_messages=True)

        def instrument(*agents: ConversableAgent) -> None:
            for agent in agents:
                instrument_agent(agent, tracer_provider=provider)

        def instrument_pattern(pattern: DefaultPattern) -> None:
            pattern_tracing(pattern, tracer_provider=provider)

    elif mode == "openinference":
        from openinference.instrumentation.ag2 import AG2Instrumentor
        from openinference.instrumentation.openai import OpenAIInstrumentor

        AG2Instrumentor().instrument(tracer_provider=provider)
        OpenAIInstrumentor().instrument(tracer_provider=provider)

        def instrument(*agents: ConversableAgent) -> None:
            del agents  # the instrumentor patched every agent's class

        def instrument_pattern(pattern: DefaultPattern) -> None:
            del pattern

    else:
        raise SystemExit(f"unknown mode {mode!r}: native or openinference")
    with ScriptedLLM() as llm:
        _chat(capture, llm, instrument)
        _sub_chat(capture, llm, instrument)
        _group(capture, llm, instrument_pattern)
    capture.write_spans(f"ag2_{mode}.otlp")
    capture.write_expected(f"ag2_{mode}.expected.json")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
