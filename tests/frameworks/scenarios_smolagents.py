"""smolagents scenarios: a ``ToolCallingAgent`` on smolagents' ``OpenAIModel`` pointed at the
scripted server.

OpenInference's smolagents instrumentor traces only the model classes smolagents exports
(it wraps their ``generate``); a custom ``Model`` subclass overriding ``generate`` gets no LLM
spans, so the scenarios use the real ``OpenAIModel`` against :class:`ScriptedLLM`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from smolagents import OpenAIModel, ToolCallingAgent, tool

from tests.frameworks import scenario as S
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail

MODEL_NAME = "scripted-smol"
AGENT_NAME = "weather_agent"
GAVE_UP_ANSWER = "I ran out of steps"


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


def build_agent(
    llm: ScriptedLLM, name: str = AGENT_NAME, max_steps: int = 6, **kwargs: object
) -> ToolCallingAgent:
    """An agent on the scripted server, with the scenario tools."""
    model = OpenAIModel(
        model_id=MODEL_NAME,
        api_base=llm.base_url,
        api_key="sk-scripted",
        client_kwargs={"max_retries": 0},
    )
    return ToolCallingAgent(
        tools=[get_weather, add, flaky],
        model=model,
        name=name,
        max_steps=max_steps,
        verbosity_level=0,
        **kwargs,  # type: ignore[arg-type]
    )


def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then the final_answer tool."""
    marker = S.tag("smol-ok")
    llm.script(
        marker,
        [
            call_tool("get_weather", S.WEATHER_ARGS),
            call_tool("add", S.ADD_ARGS),
            call_tool("final_answer", {"answer": S.SUCCESS_ANSWER}),
        ],
    )
    task = f"{marker} What is the weather in Paris, and 2 + 3?"
    assert build_agent(llm).run(task) == S.SUCCESS_ANSWER
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=S.SUCCESS_ANSWER,
        tools=[
            *S.success_tools(),
            S.ToolExpectation("final_answer", {"answer": S.SUCCESS_ANSWER}, S.SUCCESS_ANSWER),
        ],
        agent_name=AGENT_NAME,
        model_requested=MODEL_NAME,
        llm_steps_at_least=3,
    )


def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; smolagents shows the model the error, which retries and answers."""
    marker = S.tag("smol-retry")
    llm.script(
        marker,
        [
            call_tool("flaky", S.FLAKY_BAD_ARGS),
            call_tool("flaky", S.FLAKY_GOOD_ARGS),
            call_tool("final_answer", {"answer": S.RECOVERED_ANSWER}),
        ],
    )
    task = f"{marker} Call the flaky tool."
    assert build_agent(llm).run(task) == S.RECOVERED_ANSWER
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=S.RECOVERED_ANSWER,
        tools=[
            *S.recover_tools(),
            S.ToolExpectation("final_answer", {"answer": S.RECOVERED_ANSWER}, S.RECOVERED_ANSWER),
        ],
        agent_name=AGENT_NAME,
        llm_steps_at_least=3,
    )


def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers an error after one tool call: the run raises."""
    marker = S.tag("smol-fail")
    llm.script(marker, [call_tool("get_weather", S.WEATHER_ARGS), fail(400, S.MODEL_ERROR)])
    task = f"{marker} Fail please."
    try:
        build_agent(llm).run(task)
    except Exception as exc:  # smolagents wraps it in AgentGenerationError
        assert S.MODEL_ERROR in str(exc)
    else:
        raise AssertionError("the run should have failed")
    return S.RunExpectation(
        task=task,
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        error=S.MODEL_ERROR,
        agent_name=AGENT_NAME,
    )


def max_steps(llm: ScriptedLLM) -> S.RunExpectation:
    """The model never calls final_answer: smolagents stops after max_steps and asks for an
    answer without tools."""
    marker = S.tag("smol-max")
    llm.script(
        marker,
        [call_tool("add", S.ADD_ARGS), call_tool("add", S.ADD_ARGS), answer(GAVE_UP_ANSWER)],
    )
    task = f"{marker} Loop forever."
    assert build_agent(llm, max_steps=2).run(task) == GAVE_UP_ANSWER
    return S.RunExpectation(
        task=task,
        status="max_steps",
        final_answer=GAVE_UP_ANSWER,
        tools=[
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
        ],
        agent_name=AGENT_NAME,
        llm_steps_at_least=3,
    )


def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once, one thread each (smolagents is synchronous)."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: success(llm), range(count)))


def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A manager agent calls a managed agent; returns [manager, managed]."""
    parent_marker, child_marker = S.tag("smol-parent"), S.tag("smol-child")
    child = build_agent(llm, "child_agent", description="Answers questions.")
    parent = build_agent(llm, "parent_agent", managed_agents=[child])
    child_question = f"{child_marker} What is the answer?"
    llm.script(child_marker, [call_tool("final_answer", {"answer": S.CHILD_ANSWER})])
    llm.script(
        parent_marker,
        [
            call_tool("child_agent", {"task": child_question}),
            call_tool("final_answer", {"answer": f"child said: {S.CHILD_ANSWER}"}),
        ],
    )
    parent_task = f"{parent_marker} Ask the child."
    parent.run(parent_task)
    return [
        S.RunExpectation(
            task=parent_task,
            status="completed",
            final_answer=S.CHILD_ANSWER,
            # A managed agent is called without a tool span: only final_answer shows.
            tools=[
                S.ToolExpectation(
                    "final_answer",
                    {"answer": f"child said: {S.CHILD_ANSWER}"},
                    S.CHILD_ANSWER,
                )
            ],
            agent_name="parent_agent",
            llm_steps_at_least=2,
        ),
        S.RunExpectation(
            task=child_question,
            status="completed",
            final_answer=S.CHILD_ANSWER,
            tools=[S.ToolExpectation("final_answer", {"answer": S.CHILD_ANSWER}, S.CHILD_ANSWER)],
            agent_name="child_agent",
            parent_task=parent_task,
        ),
    ]
