"""The conversation shapes (sessions_scenario.py) on the frameworks of
tests/frameworks/venv_agents (Agno, AutoGen, LlamaIndex, CrewAI), traced by their
OpenInference instrumentors (AutoGen by autogen-core's own spans too); run by
capture_sessions.py in the framework's venv."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.capture_driver import (
    CREWAI_PACKAGES,
    LLAMAINDEX_PACKAGES,
    Framework,
    instrument_crewai,
)
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM


def _weather_type() -> Any:
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        celsius: int

    return Weather


def _dumped(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def _agno(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from agno.agent import Agent
    from agno.db.in_memory import InMemoryDb
    from agno.models.message import Message
    from agno.models.openai import OpenAIChat
    from openinference.instrumentation.agno import AgnoInstrumentor

    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()

    def model() -> Any:
        return OpenAIChat(id=S.MODEL, base_url=llm.base_url, api_key="none", max_retries=0)

    def make_agent(name: str = "session_agent", **options: Any) -> Any:
        own = [tools.get_weather, tools.nothing, tools.list_files, tools.read_log]
        return Agent(name=name, model=model(), tools=own, **options)

    child = Agent(name="child_agent", model=model())

    def ask_child(question: str) -> str:
        """Ask the child agent a question."""
        return str(child.run(question).content)

    def content(done: Any) -> Any:
        return {"content": _dumped(done.content), "status": str(done.status)}

    tasks = S.script(llm, "[sessions-agno]")
    session = make_agent(db=InMemoryDb(), add_history_to_context=True)
    out = {}
    for shape in ("greeting", "followup"):
        ask = lambda t=tasks[shape]: content(session.run(t, session_id="s1"))  # noqa: E731
        out[shape] = S.outcome(tasks[shape], ask)
    agent = make_agent()
    for shape in ("parallel", "results"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: content(agent.run(t)))
    typed = make_agent(output_schema=_weather_type())
    structured = tasks["structured"]
    out["structured"] = S.outcome(structured, lambda: content(typed.run(structured)))
    outer = Agent(name="session_agent", model=model(), tools=[ask_child])
    out["nested"] = S.outcome(tasks["nested"], lambda: content(outer.run(tasks["nested"])))
    earlier = [
        Message(role="user", content=tasks["earlier"]),
        Message(role="assistant", content=S.EARLIER_ANSWER),
        Message(role="user", content=tasks["history"]),
    ]
    out["history"] = S.outcome(tasks["history"], lambda: content(make_agent().run(earlier)))

    async def streamed() -> str:
        parts = [
            str(event.content)
            async for event in make_agent().arun(tasks["streamed"], stream=True)
            if getattr(event, "event", None) == "RunContent" and event.content
        ]
        return "".join(parts)

    out["streamed"] = S.outcome(tasks["streamed"], streamed)
    for shape in ("bad_args", "unknown_tool"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: content(make_agent().run(t)))
    retyped = make_agent(output_schema=_weather_type())
    out["bad_structured"] = S.outcome(
        tasks["bad_structured"], lambda: content(retyped.run(tasks["bad_structured"]))
    )
    out["tool_calls"] = tools.calls
    return out


def _autogen(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import TextMessage
    from autogen_agentchat.tools import AgentTool
    from autogen_ext.models.openai import OpenAIChatCompletionClient
    from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # autogen-core traces through the global one
    AutogenAgentChatInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()
    info = {
        "vision": False,
        "function_calling": True,
        "json_output": True,
        "family": "unknown",
        "structured_output": True,
    }

    async def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    async def nothing(key: str) -> str:
        """Read a key that holds nothing."""
        return tools.nothing(key)

    async def list_files(folder: str) -> list[dict[str, Any]]:
        """List the files of a folder."""
        return tools.list_files(folder)

    async def read_log(name: str) -> str:
        """Read a long log."""
        return tools.read_log(name)

    def client() -> Any:
        return OpenAIChatCompletionClient(
            model=S.MODEL,
            base_url=llm.base_url,
            api_key="sk-scripted",
            max_retries=0,
            model_info=info,
        )

    def make_agent(**options: Any) -> Any:
        return AssistantAgent(
            name="session_agent",
            model_client=client(),
            tools=[get_weather, nothing, list_files, read_log],
            max_tool_iterations=5,
            **options,
        )

    def text(result: Any) -> Any:
        last = result.messages[-1]
        return _dumped(getattr(last, "content", None)) if hasattr(last, "content") else None

    # AgentTool's argument is ``task``.
    tasks = S.script(llm, "[sessions-autogen]", child_tool="child_agent", child_arg="task")
    # One event loop for both runs of the session: the client's pool is bound to its loop.
    out = asyncio.run(_session(make_agent(), tasks, text))
    for shape in ("parallel", "results"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: _run(make_agent(), t, text))
    # A structured answer needs strict tools, or none.
    typed = AssistantAgent(
        name="session_agent", model_client=client(), output_content_type=_weather_type()
    )
    structured = tasks["structured"]
    out["structured"] = S.outcome(structured, lambda: _run(typed, structured, text))
    child = AssistantAgent(
        name="child_agent", model_client=client(), description="Answers a question."
    )
    outer = AssistantAgent(
        name="session_agent",
        model_client=client(),
        tools=[AgentTool(child)],
        reflect_on_tool_use=True,
    )
    out["nested"] = S.outcome(tasks["nested"], lambda: _run(outer, tasks["nested"], text))
    earlier = [
        TextMessage(content=tasks["earlier"], source="user"),
        TextMessage(content=S.EARLIER_ANSWER, source="session_agent"),
        TextMessage(content=tasks["history"], source="user"),
    ]
    out["history"] = S.outcome(tasks["history"], lambda: _run(make_agent(), earlier, text))

    async def streamed() -> Any:
        agent = make_agent(model_client_stream=True)
        async for item in agent.run_stream(task=tasks["streamed"]):
            last = item
        return text(last)

    out["streamed"] = S.outcome(tasks["streamed"], streamed)
    for shape in ("bad_args", "unknown_tool"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: _run(make_agent(), t, text))
    retyped = AssistantAgent(
        name="session_agent", model_client=client(), output_content_type=_weather_type()
    )
    out["bad_structured"] = S.outcome(
        tasks["bad_structured"], lambda: _run(retyped, tasks["bad_structured"], text)
    )
    out["tool_calls"] = tools.calls
    return out


async def _run(agent: Any, task: Any, read: Any) -> Any:
    return read(await agent.run(task=task))


async def _session(agent: Any, tasks: dict[str, str], read: Any) -> dict[str, S.Outcome]:
    """The session's two runs, one after the other on ``agent``: what the caller saw."""
    seen = {}
    for shape in ("greeting", "followup"):
        try:
            found = read(await agent.run(task=tasks[shape]))
            seen[shape] = {"task": tasks[shape], "answer": found, "raised": None}
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            raised = f"{type(exc).__name__}: {exc}"
            seen[shape] = {"task": tasks[shape], "answer": None, "raised": raised}
    return seen


def _llamaindex(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.llms import ChatMessage
    from llama_index.core.memory import Memory
    from llama_index.llms.openai_like import OpenAILike
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    LlamaIndexInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()

    def model() -> Any:
        return OpenAILike(
            model=S.MODEL,
            api_base=llm.base_url,
            api_key="sk-scripted",
            is_chat_model=True,
            is_function_calling_model=True,
            max_retries=0,
            additional_kwargs={"stream_options": {"include_usage": True}},
        )

    def make_agent(name: str = "session_agent", own: Any = None, **options: Any) -> Any:
        mine = (
            own
            if own is not None
            else [tools.get_weather, tools.nothing, tools.list_files, tools.read_log]
        )
        return FunctionAgent(
            name=name,
            description="Answers the task.",
            tools=mine,
            llm=model(),
            system_prompt="Answer.",
            **options,
        )

    async def ask_child(question: str) -> str:
        """Ask the child agent a question."""
        return str(await make_agent("child_agent", []).run(question))

    def answer_of(result: Any) -> Any:
        structured = getattr(result, "structured_response", None)
        return structured if structured else str(result)

    class Session:
        """One agent and one Memory for both runs: LlamaIndex keeps the chat in it (a
        Context passed to both runs does not carry the chat in this version)."""

        def __init__(self) -> None:
            self.agent = make_agent()
            self.memory = Memory.from_defaults(session_id="s1", token_limit=40000)

        async def run(self, task: str) -> Any:
            return str(await self.agent.run(task, memory=self.memory))

    async def on(agent: Any, task: str) -> Any:
        return answer_of(await agent.run(task))

    tasks = S.script(llm, "[sessions-llamaindex]")
    session = Session()
    out = asyncio.run(_session(session, tasks, lambda found: found))
    for shape in ("parallel", "results"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: on(make_agent(), t))
    typed = make_agent(output_cls=_weather_type())
    out["structured"] = S.outcome(tasks["structured"], lambda: on(typed, tasks["structured"]))
    outer = make_agent(own=[ask_child])
    out["nested"] = S.outcome(tasks["nested"], lambda: on(outer, tasks["nested"]))
    earlier = [
        ChatMessage(role="user", content=tasks["earlier"]),
        ChatMessage(role="assistant", content=S.EARLIER_ANSWER),
    ]

    async def with_history() -> Any:
        return answer_of(await make_agent().run(user_msg=tasks["history"], chat_history=earlier))

    out["history"] = S.outcome(tasks["history"], with_history)

    async def streamed() -> Any:
        handler = make_agent().run(tasks["streamed"])
        async for _ in handler.stream_events():
            pass
        return answer_of(await handler)

    out["streamed"] = S.outcome(tasks["streamed"], streamed)
    for shape in ("bad_args", "unknown_tool"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: on(make_agent(), t))
    retyped = make_agent(output_cls=_weather_type())
    out["bad_structured"] = S.outcome(
        tasks["bad_structured"], lambda: on(retyped, tasks["bad_structured"])
    )
    out["tool_calls"] = tools.calls
    return out


def _crewai(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    instrument_crewai(capture.provider)
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    tools = S.Tools()

    @tool("get_weather")
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    @tool("nothing")
    def nothing(key: str) -> str:
        """Read a key that holds nothing."""
        return tools.nothing(key)

    @tool("list_files")
    def list_files(folder: str) -> list[dict[str, Any]]:
        """List the files of a folder."""
        return tools.list_files(folder)

    @tool("read_log")
    def read_log(name: str) -> str:
        """Read a long log."""
        return tools.read_log(name)

    def make_agent(**llm_options: Any) -> Any:
        model = LLM(
            model=f"openai/{S.MODEL}",
            base_url=llm.base_url,
            api_key="sk-scripted",
            max_retries=0,
            **llm_options,
        )
        return Agent(
            role="session_agent",
            goal="Answer the task.",
            backstory="A careful agent.",
            llm=model,
            tools=[get_weather, nothing, list_files, read_log],
        )

    def crew(task: str, agent: Any, **options: Any) -> Any:
        job = Task(description=task, expected_output="The answer.", agent=agent, **options)
        return Crew(agents=[agent], tasks=[job])

    def read(done: Any) -> Any:
        return _dumped(done.pydantic) if done.pydantic is not None else str(done.raw)

    def ask(task: str, **options: Any) -> Any:
        return read(crew(task, make_agent(), **options).kickoff())

    tasks = S.script(llm, "[sessions-crewai]")
    out = {
        shape: S.outcome(tasks[shape], lambda t=tasks[shape]: ask(t))
        for shape in ("parallel", "results")
    }
    weather = _weather_type()
    structured = tasks["structured"]
    out["structured"] = S.outcome(structured, lambda: ask(structured, output_pydantic=weather))
    earlier = [
        {"role": "user", "content": tasks["earlier"]},
        {"role": "assistant", "content": S.EARLIER_ANSWER},
        {"role": "user", "content": tasks["history"]},
    ]
    out["history"] = S.outcome(tasks["history"], lambda: str(make_agent().kickoff(earlier).raw))

    async def streamed() -> Any:
        return read(await crew(tasks["streamed"], make_agent(stream=True)).kickoff_async())

    out["streamed"] = S.outcome(tasks["streamed"], streamed)
    for shape in ("bad_args", "unknown_tool"):
        out[shape] = S.outcome(tasks[shape], lambda t=tasks[shape]: ask(t))
    out["bad_structured"] = S.outcome(
        tasks["bad_structured"], lambda: ask(tasks["bad_structured"], output_pydantic=weather)
    )
    out["tool_calls"] = tools.calls
    return out


FRAMEWORKS: dict[str, Framework] = {
    "agno": (("agno", "openinference-instrumentation-agno"), _agno),
    "autogen": (
        ("autogen-agentchat", "autogen-ext", "openinference-instrumentation-autogen-agentchat"),
        _autogen,
    ),
    "llamaindex": (LLAMAINDEX_PACKAGES, _llamaindex),
    "crewai": (CREWAI_PACKAGES, _crewai),
}
