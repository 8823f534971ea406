"""LlamaIndex ``FunctionAgent`` workflows on the scripted LLM server (``OpenAILike``, the
class for OpenAI-compatible servers), traced by OpenInference's LlamaIndex instrumentor.
Runs in LlamaIndex's own virtualenv: see harness.py.

Scenarios: ``success``, ``tool_error_recovers`` and ``fails`` run one agent;
``max_steps`` one with ``max_iterations=2``; ``concurrent`` several runs at once on one
event loop; ``nested`` an agent whose ``ask_child`` tool runs a second agent; ``handoff`` an
``AgentWorkflow`` whose researcher hands the request to its writer; ``cancelled`` a run
its caller cancels (``handler.cancel_run()``) once its weather tool ran; ``query_engine``
and ``chat_engine`` no agent, a query engine over a one-document index (mock embeddings)
and a chat engine's turns; ``query_engine_tool`` an agent whose tool is that query engine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import awaited_outcome, clock, main, outer_span

MODEL = "scripted-llamaindex"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def flaky(x: int) -> str:
    """Fails unless x == 2."""
    if x != 2:
        raise ValueError("x must be 2")
    return "flaky ok"


def _llm(base_url: str) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=MODEL,
        api_base=base_url,
        api_key="sk-scripted",
        is_chat_model=True,
        is_function_calling_model=True,
        max_retries=0,
        # Token counts of a streamed call come only with the usage chunk.
        additional_kwargs={"stream_options": {"include_usage": True}},
    )


def _agent(base_url: str, name: str = "weather_agent", tools: list[Any] | None = None) -> Any:
    from llama_index.core.agent.workflow import FunctionAgent

    chosen = [get_weather, add, flaky] if tools is None else tools
    return FunctionAgent(
        name=name,
        description="Answers the task.",
        tools=chosen,
        llm=_llm(base_url),
        system_prompt="Answer.",
    )


def _query_engine(base_url: str) -> Any:
    """A query engine over a one-document index; mock embeddings (no embedding server)."""
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    index = VectorStoreIndex.from_documents(
        [Document(text="Paris is the capital of France.")], embed_model=MockEmbedding(embed_dim=8)
    )
    return index.as_query_engine(llm=_llm(base_url))


async def _engines(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    if scenario == "query_engine":
        engine = _query_engine(base_url)
        return [await awaited_outcome(_text(engine.aquery(tasks[0])))]
    if scenario == "chat_engine":
        from llama_index.core.chat_engine import SimpleChatEngine

        chat = SimpleChatEngine.from_defaults(llm=_llm(base_url))
        return [await awaited_outcome(_text(chat.achat(task))) for task in tasks]
    from llama_index.core.tools import QueryEngineTool

    facts = QueryEngineTool.from_defaults(
        _query_engine(base_url), name="facts", description="Facts about countries."
    )
    return [await awaited_outcome(_answer(_agent(base_url, "geo_agent", tools=[facts]), tasks[0]))]


async def _text(response: Any) -> str:
    return str(await response)


async def _answer(agent: Any, task: str, **options: Any) -> str:
    return str(await agent.run(task, **options))


async def _play(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    if scenario in ("query_engine", "chat_engine", "query_engine_tool"):
        return await _engines(scenario, tasks, base_url)
    if scenario in ("concurrent", "mixed_at_once"):
        return list(
            await asyncio.gather(*(awaited_outcome(_answer(_agent(base_url), t)) for t in tasks))
        )
    if scenario == "no_argument_tool":
        return [await awaited_outcome(_answer(_agent(base_url, tools=[clock]), tasks[0]))]
    if scenario == "outer_span":
        with outer_span():
            return [await awaited_outcome(_answer(_agent(base_url), tasks[0]))]
    if scenario == "nested":
        child = _agent(base_url, "child_agent", tools=[])

        async def ask_child(question: str) -> str:
            """Ask the child agent a question."""
            return await _answer(child, question)

        parent = _agent(base_url, "parent_agent", tools=[ask_child])
        return [await awaited_outcome(_answer(parent, tasks[0]))]
    if scenario == "nested_deep":  # top -> middle -> bottom, each asked from a tool
        bottom = _agent(base_url, "bottom_agent")

        async def ask_bottom(question: str) -> str:
            """Ask the bottom agent a question."""
            return await _answer(bottom, question)

        middle = _agent(base_url, "middle_agent", tools=[ask_bottom])

        async def ask_middle(question: str) -> str:
            """Ask the middle agent a question."""
            return await _answer(middle, question)

        top = _agent(base_url, "top_agent", tools=[ask_middle])
        return [await awaited_outcome(_answer(top, tasks[0]))]
    if scenario == "multi_turn":  # one Memory carries the chat history from run to run
        from llama_index.core.memory import Memory

        agent = _agent(base_url)
        memory = Memory.from_defaults(session_id="conversation", token_limit=40000)
        return [await awaited_outcome(_answer(agent, task, memory=memory)) for task in tasks]
    if scenario == "return_direct":  # the tool's output is the answer, no model call after
        from llama_index.core.tools import FunctionTool

        direct = FunctionTool.from_defaults(fn=get_weather, return_direct=True)
        return [await awaited_outcome(_answer(_agent(base_url, tools=[direct]), tasks[0]))]
    if scenario == "react":  # tools called through the ReAct text format, no tool calls
        from llama_index.core.agent.workflow import ReActAgent

        base = _agent(base_url)
        react = ReActAgent(name="react_agent", tools=base.tools, llm=base.llm)
        return [await awaited_outcome(_answer(react, tasks[0]))]
    if scenario == "handoff":
        from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent

        researcher = _agent(base_url, "researcher", tools=[get_weather])
        researcher.can_handoff_to = ["writer"]
        writer = FunctionAgent(
            name="writer", description="Writes the report.", llm=researcher.llm, tools=[]
        )
        workflow = AgentWorkflow(agents=[researcher, writer], root_agent="researcher")
        return [await awaited_outcome(_answer(workflow, tasks[0]))]
    if scenario == "cancelled":
        return [await awaited_outcome(_cancelled(base_url, tasks[0]))]
    options = {"max_iterations": 2} if scenario == "max_steps" else {}
    return [await awaited_outcome(_answer(_agent(base_url), tasks[0], **options))]


async def _cancelled(base_url: str, task: str) -> str:
    """Run the agent; once its weather tool ran, its caller cancels the run."""
    ran = asyncio.Event()

    async def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.set()
        await asyncio.sleep(0)  # the caller cancels while the workflow is mid-run
        return f"sunny in {city}"

    handler = _agent(base_url, tools=[get_weather]).run(task)
    await ran.wait()
    await handler.cancel_run()
    return str(await handler)


def run(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    return asyncio.run(_play(scenario, tasks, base_url))


if __name__ == "__main__":
    raise SystemExit(main("llamaindex", "llama-index", run))
