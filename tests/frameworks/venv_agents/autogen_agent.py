"""AutoGen AgentChat ``AssistantAgent`` on the scripted LLM server
(``OpenAIChatCompletionClient``), traced by autogen-core itself and by OpenInference's
AgentChat instrumentor. Runs in AutoGen's own virtualenv: see harness.py.

Scenarios: ``success``, ``tool_error_recovers`` and ``fails`` run one agent (tool calls
loop up to ``max_tool_iterations``); ``concurrent`` several runs at once on one event
loop; ``nested`` an agent whose tool is a second agent (``AgentTool``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import main

MODEL = "scripted-autogen"
# The scripted server is no known OpenAI model: say what it can do.
MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": "unknown",
    "structured_output": False,
}


async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def flaky(x: int) -> str:
    """Fails unless x == 2."""
    if x != 2:
        raise ValueError("x must be 2")
    return "flaky ok"


def _agent(base_url: str, name: str = "weather_agent", tools: list[Any] | None = None) -> Any:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    client = OpenAIChatCompletionClient(
        model=MODEL, base_url=base_url, api_key="sk-scripted", max_retries=0, model_info=MODEL_INFO
    )
    chosen = [get_weather, add, flaky] if tools is None else tools
    return AssistantAgent(name=name, model_client=client, tools=chosen, max_tool_iterations=5)


async def _answer(agent: Any, task: str) -> str:
    result = await agent.run(task=task)
    return str(result.messages[-1].to_text())


async def _outcome(coro: Any) -> dict[str, Any]:
    try:
        return {"answer": await coro, "error": None}
    except Exception as exc:  # the scenario reports it; the test checks it was expected
        return {"answer": None, "error": f"{type(exc).__name__}: {exc}"}


async def _play(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    if scenario == "concurrent":
        return list(await asyncio.gather(*(_outcome(_answer(_agent(base_url), t)) for t in tasks)))
    if scenario == "nested":
        from autogen_agentchat.tools import AgentTool

        child = _agent(base_url, "child_agent", tools=[])
        parent = _agent(base_url, "parent_agent", tools=[AgentTool(child)])
        return [await _outcome(_answer(parent, tasks[0]))]
    return [await _outcome(_answer(_agent(base_url), tasks[0]))]


def run(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    return asyncio.run(_play(scenario, tasks, base_url))


if __name__ == "__main__":
    raise SystemExit(main("autogen", "autogen", run))
