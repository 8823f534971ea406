"""Strands Agents scenarios: an ``Agent`` on Strands' ``OpenAIModel`` (which always streams)
pointed at the scripted server. Strands traces itself (OTel GenAI spans, scope
``strands.telemetry.tracer``) through the global tracer provider.

Strands' documented behaviours the expectations follow:

- a tool that raises becomes an error tool result the model reads; the run goes on;
- a model error ends the run with ``EventLoopException``;
- there is no step limit to hit (no max-steps scenario);
- a sub-agent is an agent called from a tool ("agents as tools").
"""

from __future__ import annotations

from typing import Any

from strands import Agent, tool
from strands.models.openai import OpenAIModel

from tests.frameworks import scenario as S
from tests.scripted_llm import ScriptedLLM

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
