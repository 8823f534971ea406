"""Run one framework of those without a failures capture of their own on the failure shapes
of failures_scenario.py against the scripted model, and write the spans it exported, as OTLP
protobuf, plus what the framework returned.

    VENV/bin/python -m tests.frameworks.captured.capture_failures_more FRAMEWORK [OUT_DIR]

FRAMEWORK and its VENV: ``crewai``, ``llamaindex``, ``agno`` (the venvs of
tests/frameworks/venv_agents/requirements-<framework>.txt, traced by their OpenInference
instrumentors), ``google_adk`` (the project's environment, ADK's own spans),
``semantic_kernel`` (its own GenAI spans, sensitive data on) and ``haystack`` (OpenInference),
each of the last two in a virtualenv of its own (below); the files are
``failures_<FRAMEWORK>.otlp`` and ``.expected.json``. The shapes: the model server failing
through every retry after one weather call (``exhausted``: the retries the framework makes by
default, its OpenAI client's ``max_retries=2`` included), a rate limit retried once
(``throttled``), a tool that raises (``raises``), and a model asking for the weather at
every turn until the framework's own step limit stops it (``step_limit``: CrewAI's
``max_iter=2``, after which CrewAI asks for a last answer and gets it, LlamaIndex's
``max_iterations=3``, Agno's ``tool_call_limit=2``, past which Agno refuses the call and the
model answers, ADK's
``RunConfig(max_llm_calls=3)``, Semantic Kernel's default ``maximum_auto_invoke_attempts``
of 5, Haystack's ``max_agent_steps=3``). ``semantic_kernel`` and ``haystack`` run in a
virtualenv of their own with ``semantic-kernel`` / ``haystack-ai`` and
``openinference-instrumentation-haystack``, ``openai``, ``opentelemetry-sdk`` and
``opentelemetry-exporter-otlp-proto-common`` (versions in the expectations).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from tests.frameworks.captured import failures_scenario as F
from tests.frameworks.captured.capture_driver import (
    CREWAI_PACKAGES,
    LLAMAINDEX_PACKAGES,
    Framework,
    instrument_crewai,
    outcome,
    run_main,
)
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

MODEL = "scripted-failures"
# Each framework's own limit in ``step_limit``.
CREWAI_MAX_ITER = 2
LLAMAINDEX_MAX_ITERATIONS = 3
AGNO_TOOL_CALL_LIMIT = 2
ADK_MAX_LLM_CALLS = 3
HAYSTACK_MAX_AGENT_STEPS = 3
SK_AUTO_INVOKE_ATTEMPTS = 5  # Semantic Kernel's default maximum_auto_invoke_attempts
ADK_LIMIT = f"Max number of llm calls limit of `{ADK_MAX_LLM_CALLS}` exceeded"


def _all_shapes(
    llm: ScriptedLLM, marker: str, tool: Callable[[str], str] = str, **options: Any
) -> dict[str, str]:
    return {**F.script(llm, marker, tool=tool), **F.script_more(llm, marker, tool=tool, **options)}


# How each run reads, as a person reading the framework's logs writes it: its status, answer
# and error (a substring), and its steps in order, each [kind, tool, status, error substring].
Step = list[Any]
THINK: Step = ["think", None, "ok", None]
WEATHER: Step = ["tool_call", "get_weather", "ok", None]
FAILED_CALL: Step = ["think", None, "error", F.SERVER_ERROR]


def _run(status: str, answer: str | None, error: str | None, steps: list[Step]) -> dict[str, Any]:
    return {"status": status, "answer": answer, "error": error, "steps": steps}


def _reading(exhausted_attempts: int, step_limit: dict[str, Any]) -> dict[str, Any]:
    """The shapes every framework here reads the same way, and its own two: how many
    failed model calls the exhausted run shows (one per attempt the framework itself made;
    the client's retries are inside one call), and how its step limit ends the run."""
    alerts = ["tool_call", "check_alerts", "error", F.ALERTS_DOWN]
    return {
        "exhausted": _run("failed", None, F.SERVER_ERROR,
                          [THINK, WEATHER] + [FAILED_CALL] * exhausted_attempts),
        "throttled": _run("completed", F.ANSWER, None, [THINK, WEATHER, THINK]),
        "raises": _run("completed", F.ALERTS_ANSWER, None, [THINK, alerts, THINK]),
        "step_limit": step_limit,
    }  # fmt: skip


def _as(
    reading: dict[str, Any], *, tool: Callable[[str], str] = str, agent: str | None = None
) -> dict[str, Any]:
    """``reading`` with each tool named as the framework names it, and the runs' agent
    named ``agent`` (``failure_agent`` unless said)."""
    out = {}
    for shape, run in reading.items():
        steps = [[k, tool(name) if name else name, status, error]
                 for k, name, status, error in run["steps"]]  # fmt: skip
        out[shape] = {**run, "steps": steps, **({"agent": agent} if agent else {})}
    return out


READINGS: dict[str, dict[str, Any]] = {
    # A task that fails is tried again up to the agent's max_retry_limit (2): three attempts,
    # each failing on its model call. At max_iter CrewAI asks for a best final answer: the
    # run reached its limit, that answer its answer.
    "crewai": _reading(3, _run("max_steps", F.LIMIT_ANSWER, None,
                               [THINK, WEATHER] * CREWAI_MAX_ITER + [THINK])),
    # max_iterations counts model calls: the third asks for a tool that never runs, and the
    # workflow raises WorkflowRuntimeError.
    "llamaindex": _reading(1, _run("max_steps", None, "Max iterations of 3 reached",
                                   [THINK, WEATHER] * (LLAMAINDEX_MAX_ITERATIONS - 1) + [THINK])),
    # The call past tool_call_limit is not run: Agno tells the model so, and it answers.
    "agno": _reading(1, _run("max_steps", F.LIMIT_ANSWER, None,
                             [THINK, WEATHER] * AGNO_TOOL_CALL_LIMIT
                             + [THINK, ["tool_call", "get_weather", "error",
                                        "Tool call limit reached"], THINK])),
    # ADK: a tool that raises ends the run with its exception (the model is not told); the
    # model call over max_llm_calls is started and refused (LlmCallsLimitExceededError, no
    # request made), which ends the run.
    "google_adk": {
        **_reading(1, _run("max_steps", None, ADK_LIMIT,
                           [THINK, WEATHER] * ADK_MAX_LLM_CALLS
                           + [["think", None, "error", ADK_LIMIT]])),
        "raises": _run("failed", None, F.ALERTS_DOWN,
                       [THINK, ["tool_call", "check_alerts", "error", F.ALERTS_DOWN]]),
    },
    # Semantic Kernel stops invoking functions after maximum_auto_invoke_attempts (5): the
    # model call after the fifth asks for a sixth that never runs, and the answer is empty.
    "semantic_kernel": _as(_reading(1, _run("max_steps", None, None,
                                            [THINK, WEATHER] * SK_AUTO_INVOKE_ATTEMPTS
                                            + [THINK])),
                           tool=lambda name: f"Weather-{name}"),
    # A Haystack Agent has no name (its class is the run's agent); at max_agent_steps it stops
    # after the tools of the last step, with no answer.
    "haystack": _as(_reading(1, _run("max_steps", None, None,
                                     [THINK, WEATHER] * HAYSTACK_MAX_AGENT_STEPS)),
                    agent="Agent"),
}  # fmt: skip


def _crewai(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    instrument_crewai(capture.provider)
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    capture.expected["runs"] = READINGS["crewai"]
    tools = F.Tools()

    @tool("get_weather")
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return tools.get_weather(city)

    @tool("check_alerts")
    def check_alerts(city: str) -> str:
        """The weather alerts in a city."""
        return tools.check_alerts(city)

    def ask(task: str, max_iter: int) -> str:
        # CrewAI's OpenAI model retries as the OpenAI client does by default (max_retries=2).
        model = LLM(model=f"openai/{MODEL}", base_url=llm.base_url, api_key="sk-scripted")
        agent = Agent(role="failure_agent", goal="Answer the task.",
                      backstory="A careful agent.", llm=model,
                      tools=[get_weather, check_alerts], max_iter=max_iter)  # fmt: skip
        job = Task(description=task, expected_output="The answer.", agent=agent)
        return str(Crew(agents=[agent], tasks=[job]).kickoff().raw)

    # At max_iter CrewAI asks the model once more for its best final answer, and it answers.
    tasks = _all_shapes(llm, "[failures-crewai]", answer_after=CREWAI_MAX_ITER)
    limits = {"step_limit": CREWAI_MAX_ITER}
    return {
        shape: outcome(task, lambda t=task, s=shape: ask(t, limits.get(s, 25)))
        for shape, task in tasks.items()
    }


def _llamaindex(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.llms.openai_like import OpenAILike
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    LlamaIndexInstrumentor().instrument(tracer_provider=capture.provider)
    capture.expected["runs"] = READINGS["llamaindex"]
    tools = F.Tools()

    def make_agent() -> Any:
        # OpenAILike retries as LlamaIndex's OpenAI model does by default (max_retries=3).
        model = OpenAILike(model=MODEL, api_base=llm.base_url, api_key="sk-scripted",
                           is_chat_model=True, is_function_calling_model=True,
                           additional_kwargs={"stream_options": {"include_usage": True}},
                           )  # fmt: skip
        return FunctionAgent(name="failure_agent", description="Answers the task.",
                             tools=[tools.get_weather, tools.check_alerts], llm=model,
                             system_prompt="Answer.")  # fmt: skip

    async def ask(task: str, max_iterations: int) -> str:
        return str(await make_agent().run(task, max_iterations=max_iterations))

    tasks = _all_shapes(llm, "[failures-llamaindex]")
    limits = {"step_limit": LLAMAINDEX_MAX_ITERATIONS}
    return {
        shape: outcome(task, lambda t=task, s=shape: asyncio.run(ask(t, limits.get(s, 20))))
        for shape, task in tasks.items()
    }


def _agno(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from openinference.instrumentation.agno import AgnoInstrumentor

    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    capture.expected["runs"] = READINGS["agno"]
    tools = F.Tools()

    def ask(task: str, limit: int | None) -> dict[str, Any]:
        # Agno's own retry is off by default (``retries=0``); the OpenAI client's is on.
        model = OpenAIChat(id=MODEL, base_url=llm.base_url, api_key="sk-scripted")
        agent = Agent(name="failure_agent", model=model, tool_call_limit=limit,
                      tools=[tools.get_weather, tools.check_alerts])  # fmt: skip
        done = agent.run(task)
        return {"content": done.content, "status": str(done.status)}

    # Past tool_call_limit Agno answers the model's call with "Tool call limit reached. ...
    # Don't try to execute it again." and asks again: the model asks once more, then answers.
    tasks = _all_shapes(llm, "[failures-agno]", answer_after=AGNO_TOOL_CALL_LIMIT + 1)
    limits = {"step_limit": AGNO_TOOL_CALL_LIMIT}
    return {
        shape: outcome(task, lambda t=task, s=shape: ask(t, limits.get(s)))
        for shape, task in tasks.items()
    }


def _google_adk(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # ADK traces through the global provider
    from google.adk.agents import LlmAgent
    from google.adk.agents.run_config import RunConfig
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    from tests.frameworks.adk_scripted_model import ScriptedChatModel

    capture.expected["runs"] = READINGS["google_adk"]
    tools = F.Tools()

    async def ask(task: str, run_config: RunConfig) -> str | None:
        # ADK retries no model call itself: the OpenAI client under the model does.
        model = ScriptedChatModel(model=MODEL, base_url=llm.base_url, max_retries=2)
        agent = LlmAgent(name="failure_agent", model=model, instruction="Answer briefly.",
                         tools=[tools.get_weather, tools.check_alerts])  # fmt: skip
        runner = InMemoryRunner(agent=agent, app_name="failures")
        session = await runner.session_service.create_session(app_name="failures",
                                                               user_id="tester")  # fmt: skip
        message = types.Content(role="user", parts=[types.Part(text=task)])
        events = runner.run_async(user_id="tester", session_id=session.id,
                                  new_message=message, run_config=run_config)  # fmt: skip
        final = None
        async for event in events:
            if event.is_final_response() and event.content and event.content.parts:
                final = "".join(p.text or "" for p in event.content.parts) or final
        return final

    tasks = _all_shapes(llm, "[failures-google_adk]")
    configs = {"step_limit": RunConfig(max_llm_calls=ADK_MAX_LLM_CALLS)}

    def play(task: str, shape: str) -> str | None:
        return asyncio.run(ask(task, configs.get(shape, RunConfig())))

    return {
        shape: outcome(task, lambda t=task, s=shape: play(t, s)) for shape, task in tasks.items()
    }


def _semantic_kernel(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    # Read by Semantic Kernel at import: its GenAI spans, with the messages.
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"
    from openai import AsyncOpenAI
    from opentelemetry import trace
    from semantic_kernel.agents import ChatCompletionAgent
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion
    from semantic_kernel.functions import kernel_function

    trace.set_tracer_provider(capture.provider)  # Semantic Kernel traces through the global one
    capture.expected["runs"] = READINGS["semantic_kernel"]
    tools = F.Tools()

    class Weather:
        """The failure tools as a plugin (the model calls them as ``Weather-{function}``)."""

        @kernel_function(description="The current weather in a city.")
        def get_weather(self, city: str) -> str:
            return tools.get_weather(city)

        @kernel_function(description="The weather alerts in a city.")
        def check_alerts(self, city: str) -> str:
            return tools.check_alerts(city)

    async def ask(task: str) -> str:
        # The OpenAI client's retries as by default (max_retries=2).
        client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted")
        service = OpenAIChatCompletion(ai_model_id=MODEL, async_client=client)
        agent = ChatCompletionAgent(service=service, name="failure_agent",
                                    instructions="Be brief.", plugins=[Weather()])  # fmt: skip
        return str((await agent.get_response(messages=task)).message.content)

    # Semantic Kernel's step limit is its default maximum_auto_invoke_attempts (5).
    tasks = _all_shapes(llm, "[failures-semantic_kernel]", tool=lambda name: f"Weather-{name}")
    return {s: outcome(t, lambda t=t: asyncio.run(ask(t))) for s, t in tasks.items()}


def _haystack(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from haystack.components.agents import Agent
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.tools import create_tool_from_function
    from haystack.utils import Secret
    from openinference.instrumentation.haystack import HaystackInstrumentor

    HaystackInstrumentor().instrument(tracer_provider=capture.provider)
    capture.expected["runs"] = READINGS["haystack"]
    tools = F.Tools()

    def ask(task: str, steps: int) -> str | None:
        # The generator's retries as by default.
        generator = OpenAIChatGenerator(api_key=Secret.from_token("sk-scripted"), model=MODEL,
                                        api_base_url=llm.base_url)  # fmt: skip
        own = [create_tool_from_function(f) for f in (tools.get_weather, tools.check_alerts)]
        agent = Agent(chat_generator=generator, tools=own, max_agent_steps=steps)
        done = agent.run(messages=[ChatMessage.from_user(task)])
        return done["last_message"].text  # type: ignore[no-any-return]

    tasks = _all_shapes(llm, "[failures-haystack]")
    limits = {"step_limit": HAYSTACK_MAX_AGENT_STEPS}
    return {
        shape: outcome(task, lambda t=task, s=shape: ask(t, limits.get(s, 20)))
        for shape, task in tasks.items()
    }


FRAMEWORKS: dict[str, Framework] = {
    "crewai": (CREWAI_PACKAGES, _crewai),
    "llamaindex": (LLAMAINDEX_PACKAGES, _llamaindex),
    "agno": (("agno", "openinference-instrumentation-agno"), _agno),
    "google_adk": (("google-adk", "google-genai"), _google_adk),
    "semantic_kernel": (("semantic-kernel",), _semantic_kernel),
    "haystack": (("haystack-ai", "openinference-instrumentation-haystack"), _haystack),
}


if __name__ == "__main__":
    run_main("failures", FRAMEWORKS)
