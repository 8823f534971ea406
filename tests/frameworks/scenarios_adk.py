"""Google ADK scenarios: an ``LlmAgent`` run by ADK's ``InMemoryRunner`` on a ``BaseLlm``
that talks chat completions to the scripted server (tests/frameworks/adk_scripted_model.py).
ADK traces itself (scope ``gcp.vertex.agent``) through the global tracer provider.

ADK's documented behaviours the expectations follow:

- a tool that raises ends the run with its exception (ADK re-raises it);
- the step limit is ``RunConfig.max_llm_calls``: past it the run raises
  ``LlmCallsLimitExceededError``, with no answer;
- a sub-agent called through ``AgentTool`` runs as its own agent inside the tool call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from google.adk.agents import LlmAgent, SequentialAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.runners import InMemoryRunner
from google.adk.tools import ToolContext
from google.adk.tools.agent_tool import AgentTool
from google.genai import types

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.adk_scripted_model import ScriptedChatModel
from tests.scripted_llm import ScriptedLLM, Turn, answer, call_tool, fail

MODEL_NAME = "scripted-adk"
AGENT_NAME = "weather_agent"
MAX_LLM_CALLS = 2
# What the parent asks its AgentTool child in ``sub_agent_fails`` (the child's own marker).
SUB_AGENT_REQUEST = "[adk-child-fails] What does the child say?"
FRAMEWORK = S.Framework(marker_prefix="adk", agent_name=AGENT_NAME, model_name=MODEL_NAME)


def get_weather(city: str) -> str:
    """The weather in a city."""
    return S.get_weather_impl(city)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return S.add_impl(a, b)


def flaky(x: int) -> str:
    """Fails unless x == 2."""
    return S.flaky_impl(x)


def build_agent(llm: ScriptedLLM, name: str = AGENT_NAME, tools: list[Any] | None = None) -> Any:
    """An agent on the scripted server, with the scenario tools."""
    return LlmAgent(
        name=name,
        model=ScriptedChatModel(model=MODEL_NAME, base_url=llm.base_url),
        instruction="Answer briefly.",
        description=f"The {name}.",
        tools=[get_weather, add, flaky] if tools is None else tools,
    )


async def _run(agent: Any, task: str, run_config: RunConfig | None = None) -> str | None:
    """Run ``agent`` on ``task`` in a new session; the text of its final response."""
    return (await _conversation(agent, [task], run_config))[0]


async def _conversation(
    agent: Any, tasks: list[str], run_config: RunConfig | None = None
) -> list[str | None]:
    """Run ``agent`` on each task in turn, in one new session; their final responses."""
    app = f"app-{uuid.uuid4().hex[:8]}"
    runner = InMemoryRunner(agent=agent, app_name=app)
    session = await runner.session_service.create_session(app_name=app, user_id="tester")
    return [await _turn(runner, session.id, task, run_config) for task in tasks]


async def _turn(
    runner: InMemoryRunner, session_id: str, task: str, run_config: RunConfig | None
) -> str | None:
    """One run of the runner's agent in the session; the text of its final response."""
    message = types.Content(role="user", parts=[types.Part(text=task)])
    final = None
    async for event in runner.run_async(
        user_id="tester",
        session_id=session_id,
        new_message=message,
        run_config=run_config or RunConfig(),
    ):
        if event.is_final_response() and event.content and event.content.parts:
            final = "".join(p.text or "" for p in event.content.parts) or final
    return final


def _play(
    llm: ScriptedLLM, scenario: S.Scenario, agent: Any = None, run_config: RunConfig | None = None
) -> str | None:
    llm.script(scenario.marker, scenario.turns)
    return asyncio.run(_run(agent or build_agent(llm), scenario.task, run_config))


def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    scenario = S.success(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def flaky_raises() -> S.Scenario:
    """The model calls the flaky tool wrongly once: the tool raises, which ends an ADK run."""
    return S.scenario(
        FRAMEWORK,
        "raise",
        "Call the flaky tool once.",
        [call_tool("flaky", S.FLAKY_BAD_ARGS)],
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("flaky", S.FLAKY_BAD_ARGS, None, error=S.FLAKY_ERROR)],
        error=S.FLAKY_ERROR,
    )


def tool_raises(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises: ADK ends the run with the tool's exception."""
    scenario = flaky_raises()
    with scenario.expect_failure(ValueError):
        _play(llm, scenario)
    return scenario.expected


def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers HTTP 400 after one tool call: the run raises."""
    scenario = S.model_failure(FRAMEWORK)
    with scenario.expect_failure():  # openai.BadRequestError, from the model class
        _play(llm, scenario)
    return scenario.expected


def max_steps(llm: ScriptedLLM) -> S.RunExpectation:
    """The model keeps calling a tool: ADK stops at ``max_llm_calls``, no answer."""
    scenario = S.scenario(
        FRAMEWORK,
        "max",
        "Loop forever.",
        [call_tool("add", S.ADD_ARGS)] * (MAX_LLM_CALLS + 1),
        status="max_steps",
        final_answer=None,
        tools=[S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT)] * MAX_LLM_CALLS,
        error="Max number of llm calls limit",
        llm_steps_at_least=MAX_LLM_CALLS,
    )
    with scenario.expect_failure():  # LlmCallsLimitExceededError
        _play(llm, scenario, run_config=RunConfig(max_llm_calls=MAX_LLM_CALLS))
    return scenario.expected


def streaming(llm: ScriptedLLM) -> S.RunExpectation:
    """The success scenario with server-sent events: the model streams its turns."""
    scenario = S.success(FRAMEWORK)
    streamed = RunConfig(streaming_mode=StreamingMode.SSE)
    expected = scenario.expect_answer(_play(llm, scenario, run_config=streamed))
    requests = llm.requests_for(scenario.marker)
    assert requests and all(r.get("stream") for r in requests), requests
    return expected


def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once, one thread (and event loop) each."""
    return S.run_in_threads(count, lambda: success(llm))


def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A parent agent calls a child agent through ``AgentTool``; returns [parent, child]."""
    scenario = S.nested(FRAMEWORK, delegate_tool="child_agent", question_arg="request")
    child = build_agent(llm, "child_agent", tools=[])
    parent = build_agent(llm, "parent_agent", tools=[AgentTool(agent=child)])
    llm.script(scenario.child.marker, scenario.child.turns)
    _play(llm, scenario.parent, parent)
    return scenario.expected


def sub_agent_fails(llm: ScriptedLLM) -> S.RunExpectation:
    """A child agent called through ``AgentTool`` fails on its first model call (ADK records
    no request for it): the parent's run fails with it. Returns the parent's expectation; the
    child's request is ``SUB_AGENT_REQUEST`` plus the scenario's marker."""
    scenario = S.scenario(
        FRAMEWORK,
        "subfail",
        "Ask the child agent.",
        [call_tool("child_agent", {"request": SUB_AGENT_REQUEST})],
        status="failed",
        final_answer=None,
        tools=[
            S.ToolExpectation(
                "child_agent", {"request": SUB_AGENT_REQUEST}, None, error=S.MODEL_ERROR
            )
        ],
        error=S.MODEL_ERROR,
        agent_name="parent_agent",
    )
    llm.script(SUB_AGENT_REQUEST, [fail(400, S.MODEL_ERROR)])
    child = build_agent(llm, "child_agent", tools=[])
    parent = build_agent(llm, "parent_agent", tools=[AgentTool(agent=child)])
    with scenario.expect_failure():
        _play(llm, scenario, parent)
    return scenario.expected


def nested_deep(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Agents three deep through ``AgentTool`` (the tool is named after the agent)."""
    chain = shapes.nested_deep(FRAMEWORK, ("middle_agent", "bottom_agent"), "request")
    bottom = build_agent(llm, "bottom_agent")
    middle = build_agent(llm, "middle_agent", tools=[AgentTool(agent=bottom)])
    top = build_agent(llm, "top_agent", tools=[AgentTool(agent=middle)])
    chain.script(llm)
    chain.top.expect_answer(asyncio.run(_run(top, chain.top.task)))
    return chain.expected


def multi_turn(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs in one session: the second run's model calls are sent the first's events."""
    conversation = shapes.multi_turn(FRAMEWORK)
    llm.script(conversation.first.marker, conversation.turns)
    tasks = [conversation.first.task, conversation.second.task]
    answers = asyncio.run(_conversation(build_agent(llm), tasks))
    for run, output in zip((conversation.first, conversation.second), answers, strict=True):
        run.expect_answer(output)
    return conversation.expected


def parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two calls of one tool in one model turn."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def _shared(
    task: str, agent: str, answer_text: str, tools: list[S.ToolExpectation], **options: Any
) -> S.RunExpectation:
    """A run of ``agent`` working on the user's ``task`` (its own or its parent's)."""
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=answer_text,
        tools=tools,
        agent_name=agent,
        task_shared=True,
        **options,
    )


def transfer(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """An agent with ``sub_agents`` hands the conversation over (``transfer_to_agent``): the
    sub-agent's run nests under it and answers; that is the parent run's answer too."""
    task = f"{S.tag('adk-transfer')} Ask the child."
    transfer_args = {"agent_name": "child_agent"}
    llm.script(task, [call_tool("transfer_to_agent", transfer_args), answer(S.CHILD_ANSWER)])
    child = build_agent(llm, "child_agent", tools=[])
    parent = LlmAgent(
        name="parent_agent",
        model=ScriptedChatModel(model=MODEL_NAME, base_url=llm.base_url),
        instruction="Hand the question to the child agent.",
        sub_agents=[child],
    )
    assert asyncio.run(_run(parent, task)) == S.CHILD_ANSWER
    delegation = S.ToolExpectation("transfer_to_agent", transfer_args, None)
    return [
        _shared(task, "parent_agent", S.CHILD_ANSWER, [delegation]),
        _shared(task, "child_agent", S.CHILD_ANSWER, [], parent_task=task),
    ]


def sequential(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A ``SequentialAgent`` runs two agents in turn and calls no model itself: its task is
    the user's, its answer the last agent's."""
    task = f"{S.tag('adk-sequence')} Check the weather, then sum it up."
    first, second = "weather checked", "all sunny, summed up"
    llm.script(task, [call_tool("get_weather", S.WEATHER_ARGS), answer(first), answer(second)])
    pipeline = SequentialAgent(
        name="pipeline",
        sub_agents=[build_agent(llm, "first_agent"), build_agent(llm, "second_agent", tools=[])],
    )
    assert asyncio.run(_run(pipeline, task)) == second
    weather = S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)
    return [
        _shared(task, "pipeline", second, [], llm_steps_at_least=0),
        _shared(task, "first_agent", first, [weather], parent_task=task, llm_steps_at_least=2),
        _shared(task, "second_agent", second, [], parent_task=task),
    ]


LOOP_DRAFTS = ("draft 1: sunny", "draft 2: sunny in Paris ☀")
LOOP_REVIEW = "not yet: name the city"


def loop(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A ``LoopAgent`` runs a writer and a checker in turn until the checker calls
    ``exit_loop``: every turn is a child run on the user's request (ADK sends the later turns
    the others' words as "For context:" user messages: no request), the checker's last turn
    no answer (``exit_loop`` returns nothing), the loop's the last draft. Returns the loop's
    run; the test checks its turns."""
    from google.adk.agents import LoopAgent
    from google.adk.tools import exit_loop

    task = f"{S.tag('adk-loop')} Draft the weather report until it is good."
    llm.script(
        task,
        [
            call_tool("get_weather", S.WEATHER_ARGS),
            answer(LOOP_DRAFTS[0]),
            answer(LOOP_REVIEW),
            answer(LOOP_DRAFTS[1]),
            call_tool("exit_loop", {}),
        ],
    )
    writer = build_agent(llm, "writer", tools=[get_weather])
    checker = build_agent(llm, "checker", tools=[exit_loop])
    agent = LoopAgent(name="review_loop", sub_agents=[writer, checker], max_iterations=3)
    assert asyncio.run(_run(agent, task)) == LOOP_DRAFTS[1]
    return [_shared(task, "review_loop", LOOP_DRAFTS[1], [], llm_steps_at_least=0)]


def skip_summarization(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool that sets ``tool_context.actions.skip_summarization``: its response is the
    final one, no model call after it; the run answers with the tool's result."""

    def lookup_weather(city: str, tool_context: ToolContext) -> str:
        """The weather in a city, returned to the user as it is."""
        tool_context.actions.skip_summarization = True
        return S.get_weather_impl(city)

    scenario = S.scenario(
        FRAMEWORK,
        "skip",
        "What is the weather in Paris?",
        [call_tool("lookup_weather", S.WEATHER_ARGS)],
        status="completed",
        final_answer=S.WEATHER_RESULT,
        tools=[S.ToolExpectation("lookup_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
    )
    # The final event is the function response, no text: nothing for _run to return.
    assert _play(llm, scenario, build_agent(llm, tools=[lookup_weather])) is None
    return scenario.expected


async def cancelled(llm: ScriptedLLM) -> S.RunExpectation:
    """``run_async`` cancelled while the model is answering: ADK ends its spans UNSET, the
    cut ``call_llm`` without any attribute."""
    cancel = S.cancelled(FRAMEWORK)
    llm.script(cancel.scenario.marker, cancel.scenario.turns)
    return await cancel.cancel(_run(build_agent(llm), cancel.scenario.task))


def empty_answer(llm: ScriptedLLM) -> S.RunExpectation:
    """The model answers with no text: ADK's final event has no text, the run's answer is
    ``""``."""
    scenario = S.empty_answer(FRAMEWORK)
    assert _play(llm, scenario) is None  # no text part in the final response
    return scenario.expected


def interrupt(city: str) -> str:
    """The weather in a city (interrupted by Ctrl-C)."""
    return S.interrupt_impl(city)


def ctrl_c(llm: ScriptedLLM) -> S.RunExpectation:
    """Ctrl-C while a tool runs: ADK ends its spans UNSET, the tool's without attributes."""
    scenario = S.ctrl_c(FRAMEWORK)
    with S.interrupted():
        _play(llm, scenario, build_agent(llm, tools=[interrupt]))
    return scenario.expected


async def interleaved(llm: ScriptedLLM, count: int = 3) -> list[S.RunExpectation]:
    """``count`` runs at once on one event loop (``run_async`` under ``asyncio.gather``):
    their spans interleave in one process, each run keeps its own steps."""

    async def one() -> S.RunExpectation:
        scenario = S.success(FRAMEWORK)
        llm.script(scenario.marker, scenario.turns)
        return scenario.expect_answer(await _run(build_agent(llm), scenario.task))

    return list(await asyncio.gather(*(one() for _ in range(count))))


PARALLEL_ANSWERS = {"north_agent": "north: sunny", "south_agent": "south: rainy"}
PARALLEL_CITIES = {"north_agent": "Oslo", "south_agent": "Rome"}


def _by_agent(request: Mapping[str, Any]) -> Turn:
    """The turn of the agent whose instruction (its system message) names it: the two
    branches of a ParallelAgent send the same user message, in no fixed order. Each asks
    for its city's weather, then answers."""
    messages = request.get("messages") or []
    system = " ".join(str(m.get("content")) for m in messages if m.get("role") == "system")
    name = next(n for n in PARALLEL_ANSWERS if n in system)
    if any(m.get("role") == "tool" for m in messages):
        return answer(PARALLEL_ANSWERS[name])
    return call_tool("get_weather", {"city": PARALLEL_CITIES[name]})


def parallel(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A ``ParallelAgent`` runs two agents at once on the user's request and calls no model
    itself; each branch calls a tool, then answers. ADK 1.10 loses its trace context across
    the branches (SPANS.md): the test checks what is stored. Returns no expectation of its
    own (the branches race: which answer ADK yields last is not fixed)."""
    from google.adk.agents import ParallelAgent

    task = f"{S.tag('adk-parallel')} Check the weather north and south."
    llm.script(task, [_by_agent] * 4)
    branches = [
        LlmAgent(
            name=name,
            model=ScriptedChatModel(model=MODEL_NAME, base_url=llm.base_url),
            instruction=f"You are {name}. Answer briefly.",
            tools=[get_weather],
        )
        for name in PARALLEL_ANSWERS
    ]
    fan_out = ParallelAgent(name="fan_out", sub_agents=branches)
    assert asyncio.run(_run(fan_out, task)) in PARALLEL_ANSWERS.values()
    return []


def weather_report(city: str) -> dict[str, Any]:
    """A structured weather report."""
    return shapes.weather_report_impl(city)


def dict_tool_result(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool returning a dict (ADK sends it as the function response as it is, not wrapped
    in ``{"result": ...}``): the step's result is its JSON."""
    scenario = shapes.dict_result(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario, build_agent(llm, tools=[weather_report])))
