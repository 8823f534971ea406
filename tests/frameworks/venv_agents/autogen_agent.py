"""AutoGen AgentChat ``AssistantAgent`` on the scripted LLM server
(``OpenAIChatCompletionClient``), traced by autogen-core itself and by OpenInference's
AgentChat instrumentor. Runs in AutoGen's own virtualenv: see harness.py.

Scenarios: ``success``, ``tool_error_recovers`` and ``fails`` run one agent (tool calls
loop up to ``max_tool_iterations``); ``max_steps`` one whose model never stops calling
tools (``max_tool_iterations=2``); ``concurrent`` several runs at once on one event loop;
``nested`` an agent whose tool is a second agent (``AgentTool``). Teams: ``team_limit`` a
RoundRobinGroupChat of a writer and a reviewer stopped by ``max_turns``, ``team_fails`` the
same team whose reviewer's model call fails, ``team_selector`` a SelectorGroupChat ended by
TextMentionTermination, ``team_swarm`` a Swarm whose planner hands off to the writer,
``team_resume`` a Swarm whose agent hands off to the user (HandoffTermination), then run
again with the user's reply as a ``HandoffMessage``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import awaited_outcome, clock, main, outer_span

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


def _client(base_url: str, **options: Any) -> Any:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    options.setdefault("model_info", MODEL_INFO)
    return OpenAIChatCompletionClient(
        model=MODEL, base_url=base_url, api_key="sk-scripted", max_retries=0, **options
    )


def _agent(
    base_url: str,
    name: str = "weather_agent",
    tools: list[Any] | None = None,
    max_tool_iterations: int = 5,
    **options: Any,
) -> Any:
    from autogen_agentchat.agents import AssistantAgent

    chosen = [get_weather, add, flaky] if tools is None else tools
    options.setdefault("model_client", _client(base_url))
    return AssistantAgent(
        name=name,
        tools=chosen,
        max_tool_iterations=max_tool_iterations,
        **options,
    )


async def _team(scenario: str, task: str, base_url: str) -> str:
    """Run one of the team scenarios; the team's last message as text."""
    from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
    from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat, Swarm

    writer = _agent(base_url, "writer", description="Writes the report.")
    reviewer = _agent(base_url, "reviewer", tools=[], description="Reviews the report.")
    team: Any
    if scenario in ("team_limit", "team_fails"):
        team = RoundRobinGroupChat([writer, reviewer], max_turns=3)
    elif scenario == "team_selector":
        done = TextMentionTermination("APPROVE") | MaxMessageTermination(10)
        team = SelectorGroupChat(
            [writer, reviewer], model_client=_client(base_url), termination_condition=done
        )
    else:
        planner = _agent(base_url, "planner", tools=[], handoffs=["writer"])
        team = Swarm([planner, writer], termination_condition=TextMentionTermination("TERMINATE"))
    result = await team.run(task=task)
    return str(result.messages[-1].to_text())


async def _resume(tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    """A Swarm whose booker hands off to the user, stopping the team; the user's reply,
    a ``HandoffMessage`` to the booker, is the second run's task."""
    from autogen_agentchat.base import Handoff
    from autogen_agentchat.conditions import HandoffTermination, TextMentionTermination
    from autogen_agentchat.messages import HandoffMessage
    from autogen_agentchat.teams import Swarm

    ask = Handoff(target="user", message="Which city?")
    booker = _agent(base_url, "booker", tools=[], handoffs=[ask])
    done = HandoffTermination(target="user") | TextMentionTermination("TERMINATE")
    team = Swarm([booker], termination_condition=done)

    async def turn(task: Any) -> str:
        return str((await team.run(task=task)).messages[-1].to_text())

    reply = HandoffMessage(source="user", target="booker", content=tasks[1])
    return [await awaited_outcome(turn(tasks[0])), await awaited_outcome(turn(reply))]


async def _answer(agent: Any, task: str) -> str:
    result = await agent.run(task=task)
    return str(result.messages[-1].to_text())


async def _play(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    if scenario in ("concurrent", "mixed_at_once"):
        return list(
            await asyncio.gather(*(awaited_outcome(_answer(_agent(base_url), t)) for t in tasks))
        )
    if scenario == "no_argument_tool":
        return [await awaited_outcome(_answer(_agent(base_url, tools=[clock]), tasks[0]))]
    if scenario == "outer_span":
        with outer_span():
            return [await awaited_outcome(_answer(_agent(base_url), tasks[0]))]
    if scenario == "team_resume":
        return await _resume(tasks, base_url)
    if scenario.startswith("team_"):
        return [await awaited_outcome(_team(scenario, tasks[0], base_url))]
    if scenario == "multi_turn":  # one agent keeps its model context from run to run
        agent = _agent(base_url)
        return [await awaited_outcome(_answer(agent, task)) for task in tasks]
    if scenario == "structured_output":  # the answer is a StructuredMessage (JSON text)
        from pydantic import BaseModel

        class Weather(BaseModel):
            city: str
            temp: int

        info = {**MODEL_INFO, "json_output": True, "structured_output": True}
        client = _client(base_url, model_info=info)
        agent = _agent(base_url, tools=[], model_client=client, output_content_type=Weather)
        return [await awaited_outcome(_answer(agent, tasks[0]))]
    if scenario in ("streaming", "streamed_parallel_tools"):  # streamed, with the usage chunk
        client = _client(base_url, stream_options={"include_usage": True})
        agent = _agent(base_url, model_client=client, model_client_stream=True)
        return [await awaited_outcome(_answer(agent, tasks[0]))]
    if scenario == "max_steps":
        agent = _agent(base_url, tools=[add], max_tool_iterations=2)
        return [await awaited_outcome(_answer(agent, tasks[0]))]
    if scenario == "nested":
        from autogen_agentchat.tools import AgentTool

        child = _agent(base_url, "child_agent", tools=[])
        parent = _agent(base_url, "parent_agent", tools=[AgentTool(child)])
        return [await awaited_outcome(_answer(parent, tasks[0]))]
    if scenario == "nested_deep":  # top -> middle -> bottom, each an AgentTool of the one above
        from autogen_agentchat.tools import AgentTool

        bottom = _agent(base_url, "bottom_agent", description="Knows the weather.")
        middle = _agent(
            base_url, "middle_agent", tools=[AgentTool(bottom)], description="Asks the bottom."
        )
        top = _agent(base_url, "top_agent", tools=[AgentTool(middle)])
        return [await awaited_outcome(_answer(top, tasks[0]))]
    return [await awaited_outcome(_answer(_agent(base_url), tasks[0]))]


def run(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    return asyncio.run(_play(scenario, tasks, base_url))


if __name__ == "__main__":
    raise SystemExit(main("autogen", "autogen", run))
