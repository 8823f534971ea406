"""Strands Agents scenarios: an ``Agent`` on Strands' ``OpenAIModel`` (which always streams)
pointed at the scripted server. Strands traces itself (OTel GenAI spans, scope
``strands.telemetry.tracer``) through the global tracer provider.

Strands' documented behaviours the expectations follow:

- a tool that raises becomes an error tool result the model reads; the run goes on;
- a model error ends the run with ``EventLoopException``;
- a single agent has no step limit to hit (no max-steps scenario);
- a sub-agent is an agent called from a tool ("agents as tools");
- a ``Swarm`` hands off between agents (its ``handoff_to_agent`` tool), each agent's turn an
  ``invoke_agent`` span under the swarm's ``invoke_swarm`` span, and stops at ``max_handoffs``
  / ``max_iterations`` (its result FAILED; the spans say nothing of it).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

from strands import Agent, tool
from strands.models.openai import OpenAIModel
from strands.multiagent import GraphBuilder, Swarm
from strands.multiagent.base import Status

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.scenario import ToolExpectation
from tests.frameworks.teams import TeamExpectation, TurnExpectation
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool

MODEL_NAME = "scripted-strands"
AGENT_NAME = "weather_agent"
FRAMEWORK = S.Framework(marker_prefix="strands", agent_name=AGENT_NAME, model_name=MODEL_NAME)


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name
    """
    return S.get_weather_impl(city)


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first integer
        b: the second integer
    """
    return S.add_impl(a, b)


@tool
def flaky(x: int) -> str:
    """Fails unless x == 2.

    Args:
        x: pass 2
    """
    return S.flaky_impl(x)


def _model(llm: ScriptedLLM) -> OpenAIModel:
    client_args = {"base_url": llm.base_url, "api_key": "sk-scripted", "max_retries": 0}
    return OpenAIModel(client_args=client_args, model_id=MODEL_NAME)


def build_agent(llm: ScriptedLLM, name: str = AGENT_NAME, tools: list[Any] | None = None) -> Agent:
    """An agent on the scripted server, with the scenario tools, printing nothing."""
    chosen = [get_weather, add, flaky] if tools is None else tools
    return Agent(model=_model(llm), tools=chosen, name=name, callback_handler=None)


def _play(llm: ScriptedLLM, scenario: S.Scenario, agent: Agent | None = None) -> str:
    """Script the model, run the agent on the scenario's task; its answer's text."""
    llm.script(scenario.marker, scenario.turns)
    return str((agent or build_agent(llm))(scenario.task)).strip()


def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    scenario = S.success(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; Strands hands the model the error, which retries and answers."""
    scenario = S.recovery(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers HTTP 400 after one tool call: the run raises."""
    scenario = S.model_failure(FRAMEWORK)
    with scenario.expect_failure():  # strands' EventLoopException
        _play(llm, scenario)
    return scenario.expected


def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once, one thread (and agent) each."""
    return S.run_in_threads(count, lambda: success(llm))


def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A parent agent's tool calls a child agent ("agents as tools"); returns [parent, child]."""
    scenario = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="question")
    child = build_agent(llm, "child_agent", tools=[])

    @tool
    def ask_child(question: str) -> str:
        """Ask the child agent a question.

        Args:
            question: what to ask
        """
        return str(child(question)).strip()

    parent = build_agent(llm, "parent_agent", tools=[ask_child])
    llm.script(scenario.child.marker, scenario.child.turns)
    _play(llm, scenario.parent, parent)
    return scenario.expected


def nested_deep(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Agents three deep ("agents as tools"): top, middle, bottom."""
    chain = shapes.nested_deep(FRAMEWORK, ("ask_middle", "ask_bottom"), "question")
    bottom = build_agent(llm, "bottom_agent")

    @tool
    def ask_bottom(question: str) -> str:
        """Ask the bottom agent a question.

        Args:
            question: what to ask
        """
        return str(bottom(question)).strip()

    middle = build_agent(llm, "middle_agent", tools=[ask_bottom])

    @tool
    def ask_middle(question: str) -> str:
        """Ask the middle agent a question.

        Args:
            question: what to ask
        """
        return str(middle(question)).strip()

    top = build_agent(llm, "top_agent", tools=[ask_middle])
    chain.script(llm)
    chain.top.expect_answer(str(top(chain.top.task)).strip())
    return chain.expected


# --- Swarm: agents handing off to each other (strands.multiagent.Swarm) -----------------------

SWARM_NAME = "swarm"  # the run of a swarm: its span is ``invoke_swarm``, without an agent name
HANDOFF_TOOL = "handoff_to_agent"  # the tool Swarm gives every agent
SWARM_ANSWER = "Paris in spring rain"


def _swarm_agents(llm: ScriptedLLM) -> list[Agent]:
    return [build_agent(llm, "researcher", tools=[]), build_agent(llm, "writer", tools=[])]


def _handoff(to: str, message: str) -> tuple[Turn, ToolExpectation]:
    """The model turn handing off to ``to``, and the tool step it leaves."""
    args = {"agent_name": to, "message": message}
    return call_tool(HANDOFF_TOOL, args), ToolExpectation(HANDOFF_TOOL, args, f"to {to}")


def swarm_handoff(llm: ScriptedLLM) -> TeamExpectation:
    """The researcher hands off to the writer, which answers: the swarm's run, a turn each."""
    marker = S.tag("strands-swarm")
    task = f"{marker} Write a haiku about Paris."
    call, step = _handoff("writer", "please write the haiku")
    llm.script(marker, [call, answer("over to the writer"), answer(SWARM_ANSWER)])
    result = Swarm(_swarm_agents(llm))(task)
    assert result.status == Status.COMPLETED, result
    assert [n.node_id for n in result.node_history] == ["researcher", "writer"], result
    return TeamExpectation(
        task=task,
        agent_name=SWARM_NAME,
        status="completed",
        final_answer=SWARM_ANSWER,
        turns=[
            TurnExpectation("researcher", "completed", "over to the writer", [step], llm_steps=2),
            TurnExpectation("writer", "completed", SWARM_ANSWER, llm_steps=1),
        ],
        model_requested=MODEL_NAME,
    )


def swarm_max_handoffs(llm: ScriptedLLM, *, limit: int = 2) -> TeamExpectation:
    """Two agents hand off back and forth until ``max_handoffs`` stops the swarm.

    Strands' result is FAILED, the reason ("Max handoffs reached") only in its debug log: the
    swarm's span ends with status UNSET and no event, each turn's span OK. The last turn's
    hand-off, never taken up, shows it: the run is ``max_steps`` with no answer."""
    marker = S.tag("strands-swarm-limit")
    task = f"{marker} Keep handing off."
    to_writer, writer_step = _handoff("writer", "your turn")
    to_researcher, researcher_step = _handoff("researcher", "yours again")
    llm.script(marker, [to_writer, answer("over"), to_researcher, answer("back")])
    result = Swarm(_swarm_agents(llm), max_handoffs=limit)(task)
    assert result.status == Status.FAILED, result
    assert [n.node_id for n in result.node_history] == ["researcher", "writer"], result
    return TeamExpectation(
        task=task,
        agent_name=SWARM_NAME,
        status="max_steps",
        final_answer=None,
        turns=[
            TurnExpectation("researcher", "completed", "over", [writer_step], llm_steps=2),
            TurnExpectation("writer", "completed", "back", [researcher_step], llm_steps=2),
        ],
        error="handed off to 'researcher', which never ran",
        model_requested=MODEL_NAME,
    )


def graph_pipeline(llm: ScriptedLLM) -> TeamExpectation:
    """A two-node ``Graph`` (researcher, then writer): a run like a swarm's (``invoke_graph``),
    each node's agent a turn under it, the last node's answer the graph's."""
    marker = S.tag("strands-graph")
    task = f"{marker} Research, then write."
    llm.script(marker, [answer("the facts"), answer(SWARM_ANSWER)])
    builder = GraphBuilder()
    researcher, writer = _swarm_agents(llm)
    builder.add_node(researcher, "researcher")
    builder.add_node(writer, "writer")
    builder.add_edge("researcher", "writer")
    builder.set_max_node_executions(4)
    result = builder.build()(task)
    assert result.status == Status.COMPLETED, result
    return TeamExpectation(
        task=task,
        agent_name="graph",
        status="completed",
        final_answer=SWARM_ANSWER,
        turns=[
            TurnExpectation("researcher", "completed", "the facts"),
            TurnExpectation("writer", "completed", SWARM_ANSWER),
        ],
        model_requested=MODEL_NAME,
    )


def multi_turn(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two calls of one agent: it keeps the conversation, so the second run's model calls
    (and its run span's messages) hold the first run's too."""
    conversation = shapes.multi_turn(FRAMEWORK)
    llm.script(conversation.first.marker, conversation.turns)
    agent = build_agent(llm)
    for run in (conversation.first, conversation.second):
        run.expect_answer(str(agent(run.task)).strip())
    return conversation.expected


def parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two calls of one tool in one model turn."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def structured_output(llm: ScriptedLLM) -> S.RunExpectation:
    """``structured_output_model``: the model answers by calling the output model's tool; the
    run's answer is that object (JSON), and that call is its response step."""
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: int

    last = Turn(tool_calls=(ToolCall("Weather", shapes.STRUCTURED),))
    scenario = shapes.structured_output(FRAMEWORK, last, '"temp":21')
    scenario = replace(scenario, expected=replace(scenario.expected, response='"temp": 21'))
    llm.script(scenario.marker, scenario.turns)
    result = build_agent(llm)(scenario.task, structured_output_model=Weather)
    assert result.structured_output == Weather(**shapes.STRUCTURED), result
    return scenario.expected


async def cancelled(llm: ScriptedLLM) -> S.RunExpectation:
    """``invoke_async`` cancelled while the model is answering: the run span ends UNSET with
    ``strands.cancellation.type``; the cut cycle's spans are never ended."""
    cancel = S.cancelled(FRAMEWORK)
    llm.script(cancel.scenario.marker, cancel.scenario.turns)
    return await cancel.cancel(build_agent(llm).invoke_async(cancel.scenario.task))


@tool
def interrupt(city: str) -> str:
    """The user presses Ctrl-C while this runs.

    Args:
        city: the city's name
    """
    return S.interrupt_impl(city)


def ctrl_c(llm: ScriptedLLM) -> S.RunExpectation:
    """A weather call, then Ctrl-C in the next tool: the run span ends with
    ``strands.cancellation.type``, but the cycle holding the second model call and the cut
    tool never ends. Those steps are still the run's: ``cancelled``, the tool's step cut."""
    weather = ToolExpectation("get_weather", {"city": "Oslo"}, "sunny in Oslo")
    cut = ToolExpectation("interrupt", {"city": "Oslo"}, None, error="cancelled")
    scenario = S.scenario(
        FRAMEWORK,
        "ctrlc",
        "Weather in Oslo, twice? (interrupted)",
        [call_tool("get_weather", {"city": "Oslo"}), call_tool("interrupt", {"city": "Oslo"})],
        status="cancelled",
        final_answer=None,
        tools=[weather, cut],
        llm_steps_at_least=2,
    )
    with S.interrupted():
        _play(llm, scenario, build_agent(llm, tools=[get_weather, interrupt]))
    return scenario.expected


def empty_answer(llm: ScriptedLLM) -> S.RunExpectation:
    """The model answers with no text: the run's answer is ``""`` (its choice event's
    message is empty)."""
    scenario = S.empty_answer(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


async def interleaved(llm: ScriptedLLM, count: int = 3) -> list[S.RunExpectation]:
    """``count`` runs at once on one event loop (``invoke_async`` under ``asyncio.gather``):
    their spans interleave in one process, each run keeps its own steps."""

    async def one() -> S.RunExpectation:
        scenario = S.success(FRAMEWORK)
        llm.script(scenario.marker, scenario.turns)
        result = await build_agent(llm).invoke_async(scenario.task)
        return scenario.expect_answer(str(result).strip())

    return list(await asyncio.gather(*(one() for _ in range(count))))


@tool
def weather_report(city: str) -> dict[str, Any]:
    """A structured weather report.

    Args:
        city: the city's name
    """
    return shapes.weather_report_impl(city)


def dict_tool_result(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool returning a dict: the step's result is its JSON."""
    scenario = shapes.dict_result(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario, build_agent(llm, tools=[weather_report])))


def model_timeout(llm: ScriptedLLM) -> S.RunExpectation:
    """The model does not answer the second call within the client's timeout: the run fails
    with ``Request timed out.``."""
    gate = threading.Event()
    scenario = shapes.model_timeout(FRAMEWORK, gate, "Request timed out.")
    client_args = {
        "base_url": llm.base_url,
        "api_key": "sk-scripted",
        "max_retries": 0,
        "timeout": shapes.MODEL_TIMEOUT_S,
    }
    model = OpenAIModel(client_args=client_args, model_id=MODEL_NAME)
    agent = Agent(model=model, tools=[get_weather], name=AGENT_NAME, callback_handler=None)
    try:
        with scenario.expect_failure():
            _play(llm, scenario, agent)
    finally:
        gate.set()
    return scenario.expected
