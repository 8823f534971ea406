"""LangGraph graphs of agents handing work around, against the scripted chat-completions
server: a supervisor handing over to a researcher with a tool that returns
``Command(graph=Command.PARENT)``, and a tool pausing the graph for a human with
``interrupt()``. Played on request (collector_run's ``--only``): their runs share names or
tasks, so their tests check them themselves. Same instrumentations as scenarios_langgraph.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.prebuilt import InjectedState
from langgraph.types import Command, Send
from langgraph.types import interrupt as ask_human
from typing_extensions import TypedDict

from tests.frameworks import scenario as S
from tests.frameworks.scenarios_langgraph import (
    FRAMEWORK,
    SERVED_MODEL,
    build_agent,
    get_weather,
)
from tests.scripted_llm import ScriptedLLM, answer, call_tool


def _answer(state: dict[str, Any]) -> object:
    """The graph's answer: the content of its last message."""
    return state["messages"][-1].content


SUPERVISOR_ANSWER = "Final: it is sunny in Paris."
RESEARCHER_ANSWER = "researched: sunny in Paris"
HANDED_OVER = "Transferred to researcher"


@tool("transfer_to_researcher")
def transfer_to_researcher(
    state: Annotated[dict[str, Any], InjectedState],
    tool_call_id: Annotated[str, InjectedToolCallId],
) -> Command[Any]:
    """Hand the question to the researcher."""
    reply = ToolMessage(HANDED_OVER, name="transfer_to_researcher", tool_call_id=tool_call_id)
    update = {"messages": [*state["messages"], reply]}
    return Command(goto="researcher", graph=Command.PARENT, update=update)


def supervisor(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A supervisor agent handing over to a researcher agent with a tool returning
    ``Command(goto=..., graph=Command.PARENT)``, the researcher handing back: the graph is a
    run; the supervisor's two turns and the researcher's are child runs. Returns the graph's
    and the researcher's expectations (the supervisor's turns share a name: the test checks
    them itself)."""
    from langgraph.graph import END, START, MessagesState, StateGraph

    task = f"{S.tag('lg-super')} What is the weather in Paris?"
    turns = [
        call_tool("transfer_to_researcher", {}),
        call_tool("get_weather", S.WEATHER_ARGS),
        answer(RESEARCHER_ANSWER),
        answer(SUPERVISOR_ANSWER),
    ]
    llm.script(task, turns)
    graph = StateGraph(MessagesState)
    boss = build_agent(llm, name="supervisor", tools=[transfer_to_researcher])
    graph.add_node(boss, destinations=("researcher", END))
    graph.add_node(build_agent(llm, name="researcher", tools=[get_weather]))
    graph.add_edge(START, "supervisor")
    graph.add_edge("researcher", "supervisor")
    app = graph.compile(name="supervisor_team")
    state = app.invoke({"messages": [{"role": "user", "content": task}]})
    assert _answer(state) == SUPERVISOR_ANSWER, state
    weather = S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)
    common = {"task": task, "status": "completed", "task_shared": True, "model_used": SERVED_MODEL}
    return [
        S.RunExpectation(
            final_answer=SUPERVISOR_ANSWER,
            agent_name="supervisor_team",
            llm_steps_at_least=0,
            **common,
        ),
        S.RunExpectation(
            final_answer=RESEARCHER_ANSWER,
            agent_name="researcher",
            tools=[weather],
            parent_task=task,
            llm_steps_at_least=2,
            **common,
        ),
    ]


APPROVED_ANSWER = "nginx restarted."


@tool
def restart(service: str) -> str:
    """Restart a service once a human approves."""
    approved = ask_human({"question": f"restart {service}?"})
    return f"restarted {service}" if approved == "yes" else "not approved"


def human_in_the_loop(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A tool pauses the graph with ``interrupt()`` (a checkpointer keeps the thread); a
    second invoke with ``Command(resume="yes")`` goes on. Two runs on the same request: the
    first ends when it pauses (no answer, the tool's step no failure), the second answers.
    Both share the task's marker: the test checks them itself; this returns the second."""
    from langgraph.checkpoint.memory import InMemorySaver

    scenario = S.scenario(
        FRAMEWORK,
        "hitl",
        "Restart nginx, once approved.",
        [call_tool("restart", {"service": "nginx"}), answer(APPROVED_ANSWER)],
        status="completed",
        final_answer=APPROVED_ANSWER,
        tools=[S.ToolExpectation("restart", {"service": "nginx"}, "restarted nginx")],
    )
    llm.script(scenario.marker, scenario.turns)
    agent = build_agent(llm, tools=[restart], checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": scenario.marker}}
    paused = agent.invoke({"messages": [{"role": "user", "content": scenario.task}]}, thread)
    assert "__interrupt__" in paused, paused
    scenario.expect_answer(_answer(agent.invoke(Command(resume="yes"), thread)))
    return [scenario.expected]


FAN_OUT_CITIES = ("Paris", "Rome")


class Trip(TypedDict):
    """The fan-out graph's state: the question, each city's report (joined), the summary."""

    question: str
    reports: Annotated[list[str], operator.add]
    summary: str


def fan_out(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Map-reduce with ``Send``: a graph sends one agent per city (a node running the weather
    agent, whose conversation starts with the city's own marked request), then joins their
    answers. The graph is a run (its task the input state's one text field, its answer the
    one text field it wrote); each agent's run nests under it with its own request."""
    from langgraph.graph import END, START, StateGraph

    task = f"{S.tag('lg-fanout')} Weather in {' and '.join(FAN_OUT_CITIES)}?"
    asks = {
        city: f"{S.tag('lg-fanout-' + city.lower())} Weather in {city}?" for city in FAN_OUT_CITIES
    }
    for city, ask in asks.items():
        llm.script(ask, [call_tool("get_weather", {"city": city}), answer(f"{city}: sunny")])
    agent = build_agent(llm, tools=[get_weather])

    def one_city(state: dict[str, str]) -> dict[str, list[str]]:
        done = agent.invoke({"messages": [{"role": "user", "content": state["ask"]}]})
        return {"reports": [_answer(done)]}

    def join(state: Trip) -> dict[str, str]:
        return {"summary": "; ".join(sorted(state["reports"]))}

    def spread(state: Trip) -> list[Send]:
        return [Send("one_city", {"ask": ask}) for ask in asks.values()]

    graph = StateGraph(Trip)
    graph.add_node("one_city", one_city)
    graph.add_node("join", join)
    graph.add_conditional_edges(START, spread, ["one_city"])
    graph.add_edge("one_city", "join")
    graph.add_edge("join", END)
    app = graph.compile(name="trip_weather")
    state = app.invoke({"question": task, "reports": [], "summary": ""})
    summary = "Paris: sunny; Rome: sunny"
    assert state["summary"] == summary, state
    graph_run = S.RunExpectation(
        task=task,
        status="completed",
        final_answer=summary,
        agent_name="trip_weather",
        model_used=SERVED_MODEL,
        llm_steps_at_least=0,
    )
    return [graph_run] + [
        S.RunExpectation(
            task=ask,
            status="completed",
            final_answer=f"{city}: sunny",
            agent_name=FRAMEWORK.agent_name,
            tools=[S.ToolExpectation("get_weather", {"city": city}, None)],
            model_used=SERVED_MODEL,
            llm_steps_at_least=2,
            parent_task=task,
        )
        for city, ask in asks.items()
    ]


def tool_node_handles_error(llm: ScriptedLLM) -> S.RunExpectation:
    """A graph built by hand (a model node, a ``ToolNode(handle_tool_errors=True)``, the
    ``tools_condition`` edge): the tool's exception becomes an error tool message the model
    reads, so it calls the tool again and answers. The failed call is a step with the error;
    the run completes."""
    from dataclasses import replace

    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    from tests.frameworks.scenarios_langgraph import flaky, model_for

    scenario = S.recovery(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    model = model_for(llm).bind_tools([flaky])

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode([flaky], handle_tool_errors=True))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    app = graph.compile(name="flaky_graph")
    state = app.invoke({"messages": [{"role": "user", "content": scenario.task}]})
    scenario.expect_answer(_answer(state))
    return replace(scenario.expected, agent_name="flaky_graph", model_used=SERVED_MODEL)


SUBGRAPH_ANSWER = "Summary: sunny in Paris."


def subgraph(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A compiled agent graph added as a node of a parent graph (``add_node(name, graph)``),
    then a node summing up with one model call: the parent graph is the run, answering with
    the summary; the agent's graph is its child run on the same request, with its tool call
    and answer. Returns the parent's and the agent's expectations."""
    from langgraph.graph import END, START, MessagesState, StateGraph

    from tests.frameworks.scenarios_langgraph import model_for

    task = f"{S.tag('lg-subgraph')} What is the weather in Paris?"
    llm.script(
        task,
        [
            call_tool("get_weather", S.WEATHER_ARGS),
            answer(RESEARCHER_ANSWER),
            answer(SUBGRAPH_ANSWER),
        ],
    )
    model = model_for(llm)

    def sum_up(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("researcher", build_agent(llm, name="researcher", tools=[get_weather]))
    graph.add_node("sum_up", sum_up)
    graph.add_edge(START, "researcher")
    graph.add_edge("researcher", "sum_up")
    graph.add_edge("sum_up", END)
    app = graph.compile(name="research_team")
    state = app.invoke({"messages": [{"role": "user", "content": task}]})
    assert _answer(state) == SUBGRAPH_ANSWER, state
    weather = S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)
    common = {"task": task, "status": "completed", "task_shared": True, "model_used": SERVED_MODEL}
    return [
        S.RunExpectation(
            final_answer=SUBGRAPH_ANSWER, agent_name="research_team", llm_steps_at_least=1, **common
        ),
        S.RunExpectation(
            final_answer=RESEARCHER_ANSWER,
            agent_name="researcher",
            tools=[weather],
            parent_task=task,
            llm_steps_at_least=2,
            **common,
        ),
    ]
