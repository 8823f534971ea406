"""LangGraph scenarios: LangChain's ``create_agent`` (the LangGraph ReAct agent that replaced
``langgraph.prebuilt.create_react_agent``) on ``ChatOpenAI`` pointed at the scripted server.

The same scenarios run under OpenInference's LangChain instrumentor and OpenLLMetry's; both
trace LangChain's callbacks, so the agent code is the same.

LangGraph's documented behaviours the expectations follow:

- a tool that raises fails the run (``ToolNode`` re-raises anything but invalid arguments),
  unless a ``wrap_tool_call`` middleware turns the exception into an error ``ToolMessage``,
  which the model reads and retries: then the run recovers;
- the step limit is the graph's ``recursion_limit``: past it the run raises
  ``GraphRecursionError`` with no answer;
- a sub-agent is an agent invoked from inside a tool of its parent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import wrap_tool_call
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool

MODEL_NAME = "scripted-langgraph"
SERVED_MODEL = f"{MODEL_NAME}-served"  # what the scripted server reports it used
AGENT_NAME = "weather_agent"
RECURSION_LIMIT = 5  # model, tools, model, tools, model: then GraphRecursionError
RECURSION_ERROR = f"Recursion limit of {RECURSION_LIMIT} reached"
FRAMEWORK = S.Framework(marker_prefix="lg", agent_name=AGENT_NAME, model_name=MODEL_NAME)


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return S.get_weather_impl(city)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return S.add_impl(a, b)


@tool
def flaky(x: int) -> str:
    """Fails unless x == 2."""
    return S.flaky_impl(x)


@wrap_tool_call
def report_tool_errors(request: Any, handler: Callable[[Any], Any]) -> Any:
    """LangChain's documented tool-error middleware: the model reads the error and retries."""
    try:
        return handler(request)
    except Exception as exc:
        return ToolMessage(
            content=f"Tool error: {exc}", tool_call_id=request.tool_call["id"], status="error"
        )


def model_for(llm: ScriptedLLM, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL_NAME, base_url=llm.base_url, api_key="sk-scripted", max_retries=0, **options
    )


def build_agent(
    llm: ScriptedLLM, name: str = AGENT_NAME, tools: list[Any] | None = None, **kwargs: Any
) -> Any:
    """An agent on the scripted server, with the scenario tools."""
    chosen = [get_weather, add, flaky] if tools is None else tools
    return create_agent(model_for(llm), tools=chosen, name=name, **kwargs)


def _answer(state: dict[str, Any]) -> object:
    """The agent's answer: the content of its last message."""
    return state["messages"][-1].content


def _play(
    llm: ScriptedLLM, scenario: S.Scenario, agent: Any = None, **config: Any
) -> dict[str, Any]:
    """Script the model, run the agent on the scenario's task; its final state."""
    llm.script(scenario.marker, scenario.turns)
    return (agent or build_agent(llm)).invoke(
        {"messages": [{"role": "user", "content": scenario.task}]}, config or None
    )


def _expected(scenario: S.Scenario) -> S.RunExpectation:
    return replace(scenario.expected, model_used=SERVED_MODEL)


def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    scenario = S.success(FRAMEWORK)
    scenario.expect_answer(_answer(_play(llm, scenario)))
    return _expected(scenario)


def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; the error middleware hands it to the model, which retries and answers."""
    scenario = S.recovery(FRAMEWORK)
    agent = build_agent(llm, middleware=[report_tool_errors])
    scenario.expect_answer(_answer(_play(llm, scenario, agent)))
    return _expected(scenario)


def tool_raises(llm: ScriptedLLM) -> S.RunExpectation:
    """Without the middleware a raising tool ends the run with its exception."""
    scenario = S.scenario(
        FRAMEWORK,
        "raise",
        "Call the flaky tool once.",
        [call_tool("flaky", S.FLAKY_BAD_ARGS)],
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("flaky", S.FLAKY_BAD_ARGS, None, error=S.FLAKY_ERROR)],
        error=S.FLAKY_ERROR,
    )
    with scenario.expect_failure(ValueError):
        _play(llm, scenario)
    return _expected(scenario)


def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers HTTP 400 after one tool call: the run raises."""
    scenario = S.model_failure(FRAMEWORK)
    with scenario.expect_failure():  # langchain-openai's OpenAIInvalidRequestError
        _play(llm, scenario)
    return _expected(scenario)


def max_steps(llm: ScriptedLLM) -> S.RunExpectation:
    """The model keeps calling a tool: the graph stops at its recursion limit, no answer."""
    scenario = S.scenario(
        FRAMEWORK,
        "max",
        "Loop forever.",
        [call_tool("add", S.ADD_ARGS)] * 3,
        status="max_steps",
        final_answer=None,
        tools=[
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
        ],
        error=RECURSION_ERROR,
        llm_steps_at_least=3,
    )
    with scenario.expect_failure():  # langgraph.errors.GraphRecursionError
        _play(llm, scenario, recursion_limit=RECURSION_LIMIT)
    return _expected(scenario)


def streaming(llm: ScriptedLLM) -> S.RunExpectation:
    """The success scenario streamed: the model's answers as SSE chunks (with the usage
    chunk), the graph's states as they come (``agent.stream``)."""
    scenario = S.success(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    model = model_for(llm, streaming=True, stream_usage=True)
    agent = create_agent(model, tools=[get_weather, add, flaky], name=AGENT_NAME)
    states = list(
        agent.stream(
            {"messages": [{"role": "user", "content": scenario.task}]}, stream_mode="values"
        )
    )
    scenario.expect_answer(_answer(states[-1]))
    requests = llm.requests_for(scenario.marker)
    assert requests and all(r.get("stream") for r in requests), requests
    # OpenLLMetry records no served name for a streamed call; OpenInference only inside its
    # serialised result (test_rules checks that reading).
    return scenario.expected


def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once, one thread each."""
    return S.run_in_threads(count, lambda: success(llm))


def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A parent agent's tool invokes a child agent (LangChain's sub-agent pattern);
    returns [parent, child]."""
    scenario = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="question")
    child = build_agent(llm, "child_agent", tools=[])

    @tool
    def ask_child(question: str) -> str:
        """Ask the child agent a question."""
        state = child.invoke({"messages": [{"role": "user", "content": question}]})
        return str(state["messages"][-1].content)

    parent = build_agent(llm, "parent_agent", tools=[ask_child])
    llm.script(scenario.child.marker, scenario.child.turns)
    _play(llm, scenario.parent, parent)
    return [_expected(scenario.parent), _expected(scenario.child)]


def nested_deep(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Agents three deep, each invoked from a tool of the one above: top, middle, bottom."""
    chain = shapes.nested_deep(FRAMEWORK, ("ask_middle", "ask_bottom"), "question")
    bottom = build_agent(llm, "bottom_agent")

    @tool
    def ask_bottom(question: str) -> str:
        """Ask the bottom agent a question."""
        return str(
            bottom.invoke({"messages": [{"role": "user", "content": question}]})["messages"][
                -1
            ].content
        )

    middle = build_agent(llm, "middle_agent", tools=[ask_bottom])

    @tool
    def ask_middle(question: str) -> str:
        """Ask the middle agent a question."""
        return str(
            middle.invoke({"messages": [{"role": "user", "content": question}]})["messages"][
                -1
            ].content
        )

    top = build_agent(llm, "top_agent", tools=[ask_middle])
    chain.script(llm)
    state = top.invoke({"messages": [{"role": "user", "content": chain.top.task}]})
    chain.top.expect_answer(_answer(state))
    return [_expected(level) for level in (chain.top, chain.middle, chain.bottom)]


def multi_turn(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs in one conversation, kept by a checkpointer under one thread id: the second
    run's model call is sent the first run's messages too."""
    from langgraph.checkpoint.memory import InMemorySaver

    conversation = shapes.multi_turn(FRAMEWORK)
    llm.script(conversation.first.marker, conversation.turns)
    agent = build_agent(llm, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": conversation.first.marker}}
    for run in (conversation.first, conversation.second):
        state = agent.invoke({"messages": [{"role": "user", "content": run.task}]}, config)
        run.expect_answer(_answer(state))
    return [_expected(conversation.first), _expected(conversation.second)]


def parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two calls of one tool in one model turn (the tools node runs both)."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    scenario.expect_answer(_answer(_play(llm, scenario)))
    return _expected(scenario)


def structured_output(llm: ScriptedLLM) -> S.RunExpectation:
    """``response_format`` set: the model answers by calling the format's tool, and the graph's
    state holds ``structured_response``, the run's answer."""
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: int

    last = Turn(tool_calls=(ToolCall("Weather", shapes.STRUCTURED),))
    scenario = shapes.structured_output(FRAMEWORK, last, json.dumps(shapes.STRUCTURED))
    state = _play(llm, scenario, build_agent(llm, response_format=Weather))
    assert state["structured_response"] == Weather(**shapes.STRUCTURED), state
    return _expected(scenario)


def team(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two agents wired as the nodes of a parent graph (no "agent" in their names, so
    OpenInference marks no span AGENT): the graph is a run, each agent a child run working
    on the user's task; the graph's answer is the last agent's."""
    from langgraph.graph import END, START, MessagesState, StateGraph

    task = f"{S.tag('lg-team')} Research the weather, then write it up."
    researched, written = "researched: sunny", "written: a sunny report"
    llm.script(
        task, [call_tool("get_weather", S.WEATHER_ARGS), answer(researched), answer(written)]
    )
    graph = StateGraph(MessagesState)
    graph.add_node("researcher", build_agent(llm, name="researcher", tools=[get_weather]))
    graph.add_node("writer", build_agent(llm, name="writer", tools=[]))
    graph.add_edge(START, "researcher")
    graph.add_edge("researcher", "writer")
    graph.add_edge("writer", END)
    state = graph.compile(name="team").invoke({"messages": [{"role": "user", "content": task}]})
    assert _answer(state) == written, state
    weather = S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)
    common = {"task": task, "status": "completed", "task_shared": True, "model_used": SERVED_MODEL}
    return [
        S.RunExpectation(final_answer=written, agent_name="team", llm_steps_at_least=0, **common),
        S.RunExpectation(
            final_answer=researched,
            agent_name="researcher",
            tools=[weather],
            parent_task=task,
            llm_steps_at_least=2,
            **common,
        ),
        S.RunExpectation(final_answer=written, agent_name="writer", parent_task=task, **common),
    ]


def prebuilt(llm: ScriptedLLM) -> S.RunExpectation:
    """LangGraph's prebuilt ``create_react_agent`` (deprecated, still common), unnamed: the
    graph is ``LangGraph`` (no AGENT kind under OpenInference), its ``ToolNode`` gets each
    call with the state (``{"tool_call": ..., "state": ...}``)."""
    import warnings

    from langgraph.prebuilt import create_react_agent

    scenario = S.success(FRAMEWORK)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation in favour of create_agent
        agent = create_react_agent(model_for(llm), tools=[get_weather, add, flaky])
    scenario.expect_answer(_answer(_play(llm, scenario, agent)))
    return replace(_expected(scenario), agent_name="LangGraph")


def return_direct(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool made with ``return_direct=True``: the graph ends on its result, no model call
    after it; that result is the answer."""

    @tool(return_direct=True)
    def lookup_weather(city: str) -> str:
        """The weather in a city, returned to the user as it is."""
        return S.get_weather_impl(city)

    scenario = S.scenario(
        FRAMEWORK,
        "direct",
        "What is the weather in Paris?",
        [call_tool("lookup_weather", S.WEATHER_ARGS)],
        status="completed",
        final_answer=S.WEATHER_RESULT,
        tools=[S.ToolExpectation("lookup_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
    )
    state = _play(llm, scenario, build_agent(llm, tools=[lookup_weather]))
    scenario.expect_answer(_answer(state))
    return _expected(scenario)


async def cancelled(llm: ScriptedLLM) -> S.RunExpectation:
    """``ainvoke`` cancelled while the model is answering: the graph's span fails with the
    ``CancelledError``."""
    cancel = S.cancelled(FRAMEWORK)
    llm.script(cancel.scenario.marker, cancel.scenario.turns)
    request = {"messages": [{"role": "user", "content": cancel.scenario.task}]}
    return await cancel.cancel(build_agent(llm).ainvoke(request))


def empty_answer(llm: ScriptedLLM) -> S.RunExpectation:
    """The model answers with no text: the run's answer is ``""``."""
    scenario = S.empty_answer(FRAMEWORK)
    return scenario.expect_answer(_answer(_play(llm, scenario)))


@tool
def interrupt(city: str) -> str:
    """The weather in a city (interrupted by Ctrl-C)."""
    return S.interrupt_impl(city)


def ctrl_c(llm: ScriptedLLM) -> S.RunExpectation:
    """Ctrl-C while a tool runs (``invoke``): the graph and tool spans fail on the
    ``KeyboardInterrupt``."""
    scenario = S.ctrl_c(FRAMEWORK)
    with S.interrupted():
        _play(llm, scenario, build_agent(llm, tools=[interrupt]))
    return scenario.expected


def garbled_response(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server's answer is JSON cut off midway: the run fails with the error."""
    scenario = S.garbled_response(FRAMEWORK)
    with scenario.expect_failure():
        _play(llm, scenario)
    return scenario.expected


async def interleaved(llm: ScriptedLLM, count: int = 3) -> list[S.RunExpectation]:
    """``count`` runs at once on one event loop (``ainvoke`` under ``asyncio.gather``):
    their spans interleave in one process, each run keeps its own steps."""

    async def one() -> S.RunExpectation:
        scenario = S.success(FRAMEWORK)
        llm.script(scenario.marker, scenario.turns)
        request = {"messages": [{"role": "user", "content": scenario.task}]}
        state = await build_agent(llm).ainvoke(request)
        return scenario.expect_answer(_answer(state))

    return list(await asyncio.gather(*(one() for _ in range(count))))


@tool
def weather_report(city: str) -> dict[str, Any]:
    """A structured weather report."""
    return shapes.weather_report_impl(city)


def dict_tool_result(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool returning a dict: the step's result is its JSON (the ``ToolMessage`` content)."""
    scenario = shapes.dict_result(FRAMEWORK)
    state = _play(llm, scenario, build_agent(llm, tools=[weather_report]))
    scenario.expect_answer(_answer(state))
    return _expected(scenario)


def model_timeout(llm: ScriptedLLM) -> S.RunExpectation:
    """The model does not answer the second call within the client's timeout: the model
    node and the graph fail with ``Request timed out.``."""
    gate = threading.Event()
    scenario = shapes.model_timeout(FRAMEWORK, gate, "Request timed out.")
    model = model_for(llm, timeout=shapes.MODEL_TIMEOUT_S)
    try:
        with scenario.expect_failure():  # langchain_openai's OpenAITimeoutError
            _play(llm, scenario, create_agent(model, tools=[get_weather], name=AGENT_NAME))
    finally:
        gate.set()
    return _expected(scenario)
