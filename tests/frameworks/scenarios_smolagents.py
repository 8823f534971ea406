"""smolagents scenarios: a ``ToolCallingAgent`` on smolagents' ``OpenAIModel`` pointed at the
scripted server.

OpenInference's smolagents instrumentor traces only the model classes smolagents exports
(it wraps their ``generate``); a custom ``Model`` subclass overriding ``generate`` gets no LLM
spans, so the scenarios use the real ``OpenAIModel`` against :class:`ScriptedLLM`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace

from smolagents import CodeAgent, OpenAIModel, ToolCallingAgent, tool
from smolagents.utils import AgentError

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.scripted_llm import ScriptedLLM, answer, call_tool

MODEL_NAME = "scripted-smol"
AGENT_NAME = "weather_agent"
GAVE_UP_ANSWER = "I ran out of steps"
FRAMEWORK = S.Framework(
    marker_prefix="smol", agent_name=AGENT_NAME, model_name=MODEL_NAME, answers_with_tool=True
)


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
    return OpenAIModel(
        model_id=MODEL_NAME,
        api_base=llm.base_url,
        api_key="sk-scripted",
        client_kwargs={"max_retries": 0},
    )


def build_agent(
    llm: ScriptedLLM, name: str = AGENT_NAME, max_steps: int = 6, **kwargs: object
) -> ToolCallingAgent:
    """An agent on the scripted server, with the scenario tools."""
    return ToolCallingAgent(
        tools=[get_weather, add, flaky],
        model=_model(llm),
        name=name,
        max_steps=max_steps,
        verbosity_level=0,
        **kwargs,  # type: ignore[arg-type]
    )


def _play(llm: ScriptedLLM, scenario: S.Scenario, agent: ToolCallingAgent | None = None) -> object:
    """Script the model, run the agent on the scenario's task; its answer."""
    llm.script(scenario.marker, scenario.turns)
    return (agent or build_agent(llm)).run(scenario.task)


def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then the final_answer tool."""
    scenario = S.success(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; smolagents shows the model the error, which retries and answers."""
    scenario = S.recovery(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers an error after one tool call: the run raises."""
    scenario = S.model_failure(FRAMEWORK)
    with scenario.expect_failure():  # smolagents wraps it in AgentGenerationError
        _play(llm, scenario)
    return scenario.expected


def max_steps(llm: ScriptedLLM) -> S.RunExpectation:
    """The model never calls final_answer: smolagents stops after max_steps and asks for an
    answer without tools."""
    scenario = S.scenario(
        FRAMEWORK,
        "max",
        "Loop forever.",
        [call_tool("add", S.ADD_ARGS), call_tool("add", S.ADD_ARGS), answer(GAVE_UP_ANSWER)],
        status="max_steps",
        final_answer=GAVE_UP_ANSWER,
        tools=[
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
        ],
        llm_steps_at_least=3,
    )
    return scenario.expect_answer(_play(llm, scenario, build_agent(llm, max_steps=2)))


def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once, one thread each (smolagents is synchronous)."""
    return S.run_in_threads(count, lambda: success(llm))


def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A manager agent calls a managed agent; returns [manager, managed]."""
    # A managed agent is called without a tool span: only final_answer shows.
    scenario = S.nested(
        FRAMEWORK, delegate_tool="child_agent", question_arg="task", delegation_is_a_tool_step=False
    )
    child = build_agent(llm, "child_agent", description="Answers questions.")
    parent = build_agent(llm, "parent_agent", managed_agents=[child])
    llm.script(scenario.child.marker, scenario.child.turns)
    _play(llm, scenario.parent, parent)
    return scenario.expected


def nested_deep(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Managed agents three deep: top manages middle, which manages bottom. A managed
    agent's call has no tool span; each is a child run whose task is what its manager
    asked (not smolagents' prompt around it)."""
    chain = shapes.nested_deep(
        FRAMEWORK, ("middle_agent", "bottom_agent"), "task", delegation_is_a_tool_step=False
    )
    bottom = build_agent(llm, "bottom_agent", description="Knows the weather.")
    middle = build_agent(
        llm, "middle_agent", description="Asks the bottom agent.", managed_agents=[bottom]
    )
    top = build_agent(llm, "top_agent", managed_agents=[middle])
    chain.script(llm)
    chain.top.expect_answer(top.run(chain.top.task))
    return chain.expected


def multi_turn(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs of one agent, the second with ``reset=False``: it keeps the first's memory."""
    conversation = shapes.multi_turn(FRAMEWORK)
    llm.script(conversation.first.marker, conversation.turns)
    agent = build_agent(llm)
    conversation.first.expect_answer(agent.run(conversation.first.task))
    conversation.second.expect_answer(agent.run(conversation.second.task, reset=False))
    return conversation.expected


def parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two calls of one tool in one model turn (smolagents runs them in parallel threads)."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def streaming(llm: ScriptedLLM) -> S.RunExpectation:
    """The success scenario run with ``stream=True``: the run span's output is every streamed
    step joined, the answer is the final_answer call's."""
    scenario = S.success(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    steps = list(build_agent(llm).run(scenario.task, stream=True))
    return scenario.expect_answer(getattr(steps[-1], "output", None))


def structured_output(llm: ScriptedLLM) -> S.RunExpectation:
    """final_answer given a dict: smolagents writes the run's output with ``str()``."""
    last = call_tool("final_answer", {"answer": shapes.STRUCTURED})
    scenario = shapes.structured_output(FRAMEWORK, last, json.dumps(shapes.STRUCTURED))
    scenario = replace(scenario, expected=replace(scenario.expected, response='"temp": 21'))
    llm.script(scenario.marker, scenario.turns)
    output = build_agent(llm).run(scenario.task)
    assert output == shapes.STRUCTURED, output
    return scenario.expected


def code_agent(llm: ScriptedLLM) -> S.RunExpectation:
    """A CodeAgent: the model writes Python calling the tool positionally, then
    ``final_answer(...)`` in code; the arguments are named after the tool's parameters."""
    code = "Thought: check.\n<code>\nw = get_weather('Paris')\nprint(w)\n</code>"
    done = "Thought: done.\n<code>\nfinal_answer(w + ' today')\n</code>"
    final = f"{S.WEATHER_RESULT} today"
    scenario = S.scenario(
        FRAMEWORK,
        "code",
        "What is the weather in Paris?",
        [answer(code), answer(done)],
        status="completed",
        final_answer=final,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        response=final,
        llm_steps_at_least=2,
    )
    llm.script(scenario.marker, scenario.turns)
    agent = CodeAgent(
        tools=[get_weather], model=_model(llm), name=AGENT_NAME, max_steps=4, verbosity_level=0
    )
    return scenario.expect_answer(agent.run(scenario.task))


def max_steps_given_to_run(llm: ScriptedLLM) -> S.RunExpectation:
    """``run(task, max_steps=2)`` on an agent built with more: the run's own limit counts
    (the span's ``smolagents.max_steps`` is the agent's)."""
    scenario = S.scenario(
        FRAMEWORK,
        "runmax",
        "Loop forever.",
        [call_tool("add", S.ADD_ARGS), call_tool("add", S.ADD_ARGS), answer(GAVE_UP_ANSWER)],
        status="max_steps",
        final_answer=GAVE_UP_ANSWER,
        tools=[S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT)] * 2,
        llm_steps_at_least=3,
    )
    llm.script(scenario.marker, scenario.turns)
    output = build_agent(llm, max_steps=6).run(scenario.task, max_steps=2)
    return scenario.expect_answer(output)


def empty_answer(llm: ScriptedLLM) -> S.RunExpectation:
    """``final_answer("")``: the run's answer is ``""``, its response step too."""
    scenario = S.empty_answer(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


@tool
def interrupt(city: str) -> str:
    """The weather in a city (interrupted by Ctrl-C).

    Args:
        city: the city
    """
    return S.interrupt_impl(city)


def ctrl_c(llm: ScriptedLLM) -> S.RunExpectation:
    """Ctrl-C while a tool runs: OpenInference records nothing (no ``Exception``); the run
    span says it through ``instrument()``. The tool's span ends without a status."""
    scenario = S.ctrl_c(FRAMEWORK, tool_error=None)
    agent = build_agent(llm)
    agent.tools["interrupt"] = interrupt
    with S.interrupted():
        _play(llm, scenario, agent)
    return scenario.expected


def stopped(llm: ScriptedLLM) -> S.RunExpectation:
    """``agent.interrupt()`` (here from the tool, as a UI's stop button would, from another
    thread): smolagents stops before its next step with ``AgentError("Agent
    interrupted.")``; the run is ``cancelled``, not failed."""
    scenario = S.scenario(
        FRAMEWORK,
        "stop",
        "What is the weather in Oslo? (stopped)",
        [call_tool("stop_here", {"city": "Oslo"}), FRAMEWORK.final_turn("never read")],
        status="cancelled",
        final_answer=None,
        tools=[S.ToolExpectation("stop_here", {"city": "Oslo"}, "sunny in Oslo")],
    )
    agent = build_agent(llm)

    @tool
    def stop_here(city: str) -> str:
        """The weather in a city; then the user stops the agent.

        Args:
            city: the city
        """
        agent.interrupt()
        return S.get_weather_impl(city)

    agent.tools["stop_here"] = stop_here
    try:
        _play(llm, scenario, agent)
    except AgentError as exc:
        assert str(exc) == "Agent interrupted.", exc
    else:
        raise AssertionError("the run should have been stopped")
    return scenario.expected


@tool
def weather_report(city: str) -> dict:
    """A structured weather report.

    Args:
        city: the city's name
    """
    return shapes.weather_report_impl(city)


def dict_tool_result(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool returning a dict: the step's result is its JSON."""
    scenario = shapes.dict_result(FRAMEWORK)
    agent = build_agent(llm)
    agent.tools["weather_report"] = weather_report
    return scenario.expect_answer(_play(llm, scenario, agent))


def model_timeout(llm: ScriptedLLM) -> S.RunExpectation:
    """The model does not answer the second call within the client's timeout: the run fails
    with ``Request timed out.``."""
    gate = threading.Event()
    scenario = shapes.model_timeout(FRAMEWORK, gate, "Request timed out.")
    model = OpenAIModel(
        model_id=MODEL_NAME,
        api_base=llm.base_url,
        api_key="sk-scripted",
        client_kwargs={"max_retries": 0, "timeout": shapes.MODEL_TIMEOUT_S},
    )
    agent = ToolCallingAgent(tools=[get_weather], model=model, name=AGENT_NAME, verbosity_level=0)
    try:
        with scenario.expect_failure():
            _play(llm, scenario, agent)
    finally:
        gate.set()
    return scenario.expected
