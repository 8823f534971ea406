"""The conversation shapes (sessions_scenario.py) on Haystack's ``Agent`` and BeeAI's
``RequirementAgent``, each traced by its OpenInference instrumentor in a virtualenv of its
own (the packages its entry names): a run given an earlier exchange as messages, two tool
calls in one turn with one raising, tools answering odd results, a tool called with a wrong
argument and a tool the agent does not have; run by capture_sessions.py."""

from __future__ import annotations

import os
from typing import Any

from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, call_tool

SHAPES = ("parallel", "results", "bad_args", "unknown_tool")


def _haystack(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from haystack.components.agents import Agent
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.tools import create_tool_from_function
    from haystack.utils import Secret
    from openinference.instrumentation.haystack import HaystackInstrumentor

    HaystackInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()
    own = [tools.get_weather, tools.nothing, tools.list_files, tools.read_log]

    def ask(messages: list[Any]) -> str | None:
        generator = OpenAIChatGenerator(api_key=Secret.from_token("none"), model=S.MODEL,
                                        api_base_url=llm.base_url, max_retries=0)  # fmt: skip
        agent = Agent(chat_generator=generator,
                      tools=[create_tool_from_function(f) for f in own])  # fmt: skip
        done = agent.run(messages=messages)
        return done["last_message"].text  # type: ignore[no-any-return]

    tasks = S.script(llm, "[sessions-haystack]")
    out = {
        shape: S.outcome(tasks[shape], lambda t=tasks[shape]: ask([ChatMessage.from_user(t)]))
        for shape in SHAPES
    }
    earlier = [
        ChatMessage.from_user(tasks["earlier"]),
        ChatMessage.from_assistant(S.EARLIER_ANSWER),
        ChatMessage.from_user(tasks["history"]),
    ]
    out["history"] = S.outcome(tasks["history"], lambda: ask(earlier))
    out["tool_calls"] = tools.calls
    return out


def _beeai(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    """A ``RequirementAgent`` answers through its ``final_answer`` tool: the scripted model
    calls it last."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    from beeai_framework.adapters.openai import OpenAIChatModel
    from beeai_framework.agents.requirement import RequirementAgent
    from beeai_framework.backend import AssistantMessage, UserMessage
    from beeai_framework.tools import tool
    from openinference.instrumentation.beeai import BeeAIInstrumentor

    BeeAIInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()

    @tool
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    @tool
    def nothing(key: str) -> str:
        """Read a key that holds nothing."""
        return tools.nothing(key)

    @tool
    def list_files(folder: str) -> list[dict[str, Any]]:
        """List the files of a folder."""
        return tools.list_files(folder)

    @tool
    def read_log(name: str) -> str:
        """Read a long log."""
        return tools.read_log(name)

    def make_agent() -> Any:
        model = OpenAIChatModel(S.MODEL, api_key="none", base_url=llm.base_url)
        model.allow_parallel_tool_calls = True  # off by default: two calls in a turn fail
        own = [get_weather, nothing, list_files, read_log]
        return RequirementAgent(llm=model, tools=own, name="session_agent")

    async def ask(task: Any) -> str:
        done = await make_agent().run(task, max_iterations=12)
        return str(done.last_message.text)

    final = lambda text: call_tool("final_answer", {"response": text})  # noqa: E731
    tasks = S.script(llm, "[sessions-beeai]", final=final)
    out = {shape: S.outcome(tasks[shape], lambda t=tasks[shape]: ask(t)) for shape in SHAPES}
    earlier = [
        UserMessage(tasks["earlier"]),
        AssistantMessage(S.EARLIER_ANSWER),
        UserMessage(tasks["history"]),
    ]
    out["history"] = S.outcome(tasks["history"], lambda: ask(earlier))
    out["tool_calls"] = tools.calls
    return out


FRAMEWORKS: dict[str, Framework] = {
    "haystack": (("haystack-ai", "openinference-instrumentation-haystack"), _haystack),
    "beeai": (("beeai-framework", "openinference-instrumentation-beeai"), _beeai),
}
