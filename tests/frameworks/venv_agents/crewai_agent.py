"""CrewAI agents on the scripted LLM server, traced by OpenInference's CrewAI instrumentor
(crews, tasks, agents, tools) and its OpenAI instrumentor (CrewAI's native OpenAI provider
calls the ``openai`` client). Runs in CrewAI's own virtualenv: see harness.py.

Scenarios (the test scripts the model's turns; the tasks carry its markers):
``success``, ``tool_error_recovers`` and ``fails`` run a one-agent crew; ``max_steps`` one
whose agent has ``max_iter=2``; ``concurrent`` several crews at once, one thread each;
``nested`` a crew agent whose ``ask_child`` tool runs a second agent with
``Agent.kickoff``; ``handoff`` a sequential crew of two agents, the second task getting
the first one's output as context; ``hierarchical`` a hierarchical crew whose manager (its
own model) delegates to one coworker and asks another a question; ``ctrl_c`` a crew whose
tool is interrupted by Ctrl-C (a ``KeyboardInterrupt``).
"""

from __future__ import annotations

import os

# CrewAI's anonymous usage telemetry and its hosted tracing would reach the internet.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

from harness import clock, main, outcome, outer_span  # noqa: E402

MODEL = "openai/scripted-crewai"  # CrewAI's native OpenAI provider, model "scripted-crewai"
MANAGER_MODEL = "openai/scripted-crewai-manager"


def _tools() -> list[Any]:
    from crewai.tools import tool

    @tool("get_weather")
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @tool("add")
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @tool("flaky")
    def flaky(x: int) -> str:
        """Fails unless x == 2."""
        if x != 2:
            raise ValueError("x must be 2")
        return "flaky ok"

    return [get_weather, add, flaky]


def _agent(base_url: str, role: str = "weather_agent", stream: bool = False, **options: Any) -> Any:
    from crewai import LLM, Agent

    llm = LLM(model=MODEL, base_url=base_url, api_key="sk-scripted", max_retries=0, stream=stream)
    options.setdefault("tools", _tools())
    return Agent(
        role=role, goal="Answer the task.", backstory="A careful agent.", llm=llm, **options
    )


def _crew_answer(agents: list[Any], descriptions: list[str]) -> str:
    from crewai import Crew, Task

    tasks = [
        Task(description=text, expected_output="The answer.", agent=agent)
        for agent, text in zip(agents, descriptions, strict=True)
    ]
    return str(Crew(agents=agents, tasks=tasks).kickoff().raw)


def _nested(task: str, base_url: str) -> str:
    from crewai.tools import tool

    child = _agent(base_url, role="child_agent", tools=[])

    @tool("ask_child")
    def ask_child(question: str) -> str:
        """Ask the child agent a question."""
        return str(child.kickoff(question).raw)

    return _crew_answer([_agent(base_url, role="parent_agent", tools=[ask_child])], [task])


def _hierarchical(task: str, base_url: str) -> str:
    from crewai import LLM, Agent, Crew, Process, Task

    llm = LLM(model=MANAGER_MODEL, base_url=base_url, api_key="sk-scripted", max_retries=0)
    # Three model calls are the manager's whole budget: the coworkers' calls are not its.
    manager = Agent(
        role="Crew Manager",
        goal="Manage the team to complete the task.",
        backstory="A seasoned manager.",
        llm=llm,
        allow_delegation=True,
        max_iter=3,
    )
    crew = Crew(
        agents=[_agent(base_url, role=r, tools=[]) for r in ("researcher", "writer")],
        tasks=[Task(description=task, expected_output="The answer.")],
        process=Process.hierarchical,
        manager_agent=manager,
    )
    return str(crew.kickoff().raw)


def _structured(task: str, base_url: str) -> str:
    from crewai import Crew, Task
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: int

    agent = _agent(base_url)
    job = Task(
        description=task, expected_output="The weather.", agent=agent, output_pydantic=Weather
    )
    output = Crew(agents=[agent], tasks=[job]).kickoff()
    assert output.pydantic == Weather(city="Paris", temp=21), output
    return str(output.raw)


def _ctrl_c(task: str, base_url: str) -> dict[str, Any]:
    """A crew whose tool gets Ctrl-C: the KeyboardInterrupt ends the crew."""
    from crewai.tools import tool

    @tool("interrupt")
    def interrupt(city: str) -> str:
        """The weather in a city (interrupted by Ctrl-C)."""
        raise KeyboardInterrupt(city)

    agent = _agent(base_url, tools=[interrupt])
    try:
        return {"answer": _crew_answer([agent], [task]), "error": None}
    except KeyboardInterrupt as exc:
        return {"answer": None, "error": f"KeyboardInterrupt: {exc}"}


def run(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    if scenario == "no_argument_tool":
        from crewai.tools import tool

        agent = _agent(base_url, tools=[tool("clock")(clock)])
        return [outcome(lambda: _crew_answer([agent], [tasks[0]]))]
    if scenario == "outer_span":
        with outer_span():
            return run("success", tasks, base_url)
    if scenario in ("concurrent", "mixed_at_once"):
        with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            return list(pool.map(lambda t: run("success", [t], base_url)[0], tasks))
    if scenario == "nested":
        return [outcome(lambda: _nested(tasks[0], base_url))]
    if scenario == "structured_output":
        return [outcome(lambda: _structured(tasks[0], base_url))]
    if scenario == "hierarchical":
        return [outcome(lambda: _hierarchical(tasks[0], base_url))]
    if scenario == "ctrl_c":
        return [_ctrl_c(tasks[0], base_url)]
    if scenario == "handoff":
        agents = [_agent(base_url, role=r, tools=[]) for r in ("researcher", "writer")]
        return [outcome(lambda: _crew_answer(agents, tasks))]
    if scenario in ("streaming", "streamed_parallel_tools"):  # streamed, with the usage chunk
        return [outcome(lambda: _crew_answer([_agent(base_url, stream=True)], [tasks[0]]))]
    options = {"max_iter": 2} if scenario == "max_steps" else {}
    return [outcome(lambda: _crew_answer([_agent(base_url, **options)], [tasks[0]]))]


if __name__ == "__main__":
    raise SystemExit(main("crewai", "crewai", run))
