"""Run one framework of those without an edges capture of their own on the edge shapes of
edges_more_scenario.py (a refusal, a content filter, 50 tool calls, hostile text in a tool's
arguments and result, a tool that raises, a model endpoint answering HTTP 500, and where the
framework runs on an event loop a run cancelled while a tool runs) against the scripted
model, and write the spans it exported, as OTLP protobuf (gzipped), plus what the framework
returned.

    VENV/bin/python -m tests.frameworks.captured.capture_edges_more FRAMEWORK [OUT_DIR]

FRAMEWORK and its VENV: ``crewai``, ``llamaindex``, ``autogen``, ``agno`` (the venvs of
tests/frameworks/venv_agents/requirements-<framework>.txt, traced by their OpenInference
instrumentors; AutoGen by autogen-core's own spans too), ``semantic_kernel`` and
``agent_framework`` (their own GenAI spans, sensitive data on), ``haystack``, ``dspy`` and
``beeai`` (OpenInference; each in a virtualenv of its own, the packages named below), and
``mcp`` (an Agents SDK agent whose tools an MCP server serves, as capture_mcp.py runs it);
the versions used are written into ``edges_<FRAMEWORK>.expected.json`` beside
``edges_<FRAMEWORK>.otlp.gz``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import SpanLimits

from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
CORE = ("openai", "opentelemetry-sdk")
Outcomes = dict[str, Any]
MODEL = "scripted-edges"
# The attributes a span keeps under instrumentation.configure() (setup.SPAN_ATTRIBUTE_COUNT,
# which some framework venvs cannot import: it needs google-re2); the SDK's default 128 drops
# the oldest of a long conversation's flattened messages.
SPAN_ATTRIBUTE_COUNT = 4096


def _crewai(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool
    from openinference.instrumentation.crewai import CrewAIInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    CrewAIInstrumentor().instrument(tracer_provider=capture.provider)
    OpenAIInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    @tool("tick")
    def tick(n: int) -> str:
        """Count one tick."""
        return tools.tick(n)

    @tool("lookup")
    def lookup(query: str) -> str:
        """Look a query up."""
        return tools.lookup(query)

    @tool("open_vault")
    def open_vault(code: str) -> str:
        """Open the vault with a code."""
        return tools.open_vault(code)

    def ask(task: str) -> str:
        model = LLM(model=f"openai/{MODEL}", base_url=llm.base_url, api_key="sk-scripted",
                    max_retries=0)  # fmt: skip
        agent = Agent(role="edge_agent", goal="Answer the task.", backstory="A careful agent.",
                      llm=model, tools=[tick, lookup, open_vault],
                      max_iter=E.LONG_CALLS + 10)  # fmt: skip
        job = Task(description=task, expected_output="The answer.", agent=agent)
        return str(Crew(agents=[agent], tasks=[job]).kickoff().raw)

    tasks = M.script(llm, "[edges-crewai]")
    return {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }


def _llamaindex(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.llms.openai_like import OpenAILike
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    LlamaIndexInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def make_agent() -> Any:
        model = OpenAILike(model=MODEL, api_base=llm.base_url, api_key="sk-scripted",
                           is_chat_model=True, is_function_calling_model=True, max_retries=0,
                           additional_kwargs={"stream_options": {"include_usage": True}},
                           )  # fmt: skip
        return FunctionAgent(
            name="edge_agent",
            description="Answers the task.",
            tools=[tools.tick, tools.lookup, tools.open_vault, tools.wait_forever],
            llm=model,
            system_prompt="Answer.",
        )

    async def ask(task: str) -> str:
        return str(await make_agent().run(task, max_iterations=3 * E.LONG_CALLS))

    tasks = M.script(llm, "[edges-llamaindex]")
    out = {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }

    async def cancel() -> dict[str, Any]:
        # LlamaIndex's own way: the handler's cancel_run while the tool waits.
        handler = make_agent().run(tasks["cancelled"])
        while not tools.started.is_set() and not handler.done():
            await asyncio.sleep(0.01)
        await handler.cancel_run()
        try:
            await handler
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            return {"cancelled": True, "raised": f"{type(exc).__name__}: {exc}",
                    "tool_saw_cancel": tools.cancelled}  # fmt: skip
        return {"cancelled": False, "raised": None, "tool_saw_cancel": tools.cancelled}

    out["cancelled"] = {"task": tasks["cancelled"], **asyncio.run(cancel())}
    return out


def _autogen(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_ext.models.openai import OpenAIChatCompletionClient
    from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # autogen-core traces through the global one
    AutogenAgentChatInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()
    info = {"vision": False, "function_calling": True, "json_output": False,
            "family": "unknown", "structured_output": False}  # fmt: skip

    async def tick(n: int) -> str:
        """Count one tick."""
        return tools.tick(n)

    async def lookup(query: str) -> str:
        """Look a query up."""
        return tools.lookup(query)

    async def open_vault(code: str) -> str:
        """Open the vault with a code."""
        return tools.open_vault(code)

    def make_agent() -> Any:
        client = OpenAIChatCompletionClient(model=MODEL, base_url=llm.base_url,
                                            api_key="sk-scripted", max_retries=0,
                                            model_info=info)  # fmt: skip
        return AssistantAgent(
            name="edge_agent",
            model_client=client,
            tools=[tick, lookup, open_vault, tools.wait_forever],
            max_tool_iterations=E.LONG_CALLS + 10,
            reflect_on_tool_use=False,
        )

    async def ask(task: str) -> str:
        result = await make_agent().run(task=task)
        return str(result.messages[-1].to_text())

    tasks = M.script(llm, "[edges-autogen]")
    out = {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }

    async def cancel() -> dict[str, Any]:
        return await E.cancel_when_started(make_agent().run(task=tasks["cancelled"]), tools)

    out["cancelled"] = {"task": tasks["cancelled"], **asyncio.run(cancel())}
    return out


def _agno(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from openinference.instrumentation.agno import AgnoInstrumentor

    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def make_agent(*extra: Any) -> Any:
        model = OpenAIChat(id=MODEL, base_url=llm.base_url, api_key="none", max_retries=0)
        own = [tools.tick, tools.lookup, tools.open_vault, *extra]
        return Agent(name="edge_agent", model=model, tools=own)

    def ask(task: str) -> dict[str, Any]:
        done = make_agent().run(task)
        return {"content": done.content, "status": str(done.status)}

    tasks = M.script(llm, "[edges-agno]")
    out = {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }

    async def cancel() -> dict[str, Any]:
        # An async tool only under arun: a sync run refuses the agent.
        agent = make_agent(tools.wait_forever)
        return await E.cancel_when_started(agent.arun(tasks["cancelled"]), tools)

    out["cancelled"] = {"task": tasks["cancelled"], **asyncio.run(cancel())}
    return out


def _semantic_kernel(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    # Read by Semantic Kernel at import: its GenAI spans, with the messages.
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"
    from openai import AsyncOpenAI
    from opentelemetry import trace
    from semantic_kernel.agents import ChatCompletionAgent
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion
    from semantic_kernel.functions import kernel_function

    trace.set_tracer_provider(capture.provider)  # Semantic Kernel traces through the global one
    tools = M.Tools()

    class Edge:
        """The edge tools as a plugin (the model calls them as ``Edge-{function}``)."""

        @kernel_function(description="Count one tick.")
        def tick(self, n: int) -> str:
            return tools.tick(n)

        @kernel_function(description="Look a query up.")
        def lookup(self, query: str) -> str:
            return tools.lookup(query)

        @kernel_function(description="Open the vault with a code.")
        def open_vault(self, code: str) -> str:
            return tools.open_vault(code)

        @kernel_function(description="Wait for a slow service.")
        async def wait_forever(self, seconds: int) -> str:
            return await tools.wait_forever(seconds)

    def ask(task: str) -> Any:
        async def run() -> str:
            client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
            service = OpenAIChatCompletion(ai_model_id=MODEL, async_client=client)
            agent = ChatCompletionAgent(service=service, name="edge_agent",
                                        instructions="Be brief.", plugins=[Edge()])  # fmt: skip
            return str((await agent.get_response(messages=task)).message.content)

        return run()

    tasks = M.script(llm, "[edges-semantic_kernel]", tool=lambda name: f"Edge-{name}")
    out = {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
    out["cancelled"] = {
        "task": tasks["cancelled"],
        **asyncio.run(E.cancel_when_started(ask(tasks["cancelled"]), tools)),
    }
    return out


def _agent_framework(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    from agent_framework import Agent
    from agent_framework.observability import enable_instrumentation
    from agent_framework.openai import OpenAIChatCompletionClient
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # the framework traces through the global one
    enable_instrumentation(enable_sensitive_data=True)
    tools = M.Tools()

    def make_agent() -> Any:
        client = OpenAIChatCompletionClient(model=MODEL, api_key="none", base_url=llm.base_url)
        own = [tools.tick, tools.lookup, tools.open_vault, tools.wait_forever]
        return Agent(client=client, name="edge_agent", instructions="Answer briefly.", tools=own)

    async def ask(task: str) -> str:
        return str((await make_agent().run(task)).text)

    tasks = M.script(llm, "[edges-agent_framework]")
    out = {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
    out["cancelled"] = {
        "task": tasks["cancelled"],
        **asyncio.run(E.cancel_when_started(ask(tasks["cancelled"]), tools)),
    }
    return out


def _haystack(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    from haystack.components.agents import Agent
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.tools import create_tool_from_function
    from haystack.utils import Secret
    from openinference.instrumentation.haystack import HaystackInstrumentor

    HaystackInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def ask(task: str) -> str | None:
        generator = OpenAIChatGenerator(api_key=Secret.from_token("none"), model=MODEL,
                                        api_base_url=llm.base_url, max_retries=0)  # fmt: skip
        own = [tools.tick, tools.lookup, tools.open_vault]
        agent = Agent(chat_generator=generator,
                      tools=[create_tool_from_function(f) for f in own],
                      max_agent_steps=3 * E.LONG_CALLS)  # fmt: skip
        done = agent.run(messages=[ChatMessage.from_user(task)])
        return done["last_message"].text  # type: ignore[no-any-return]

    tasks = M.script(llm, "[edges-haystack]")
    return {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }


def _dspy(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    """DSPy's ReAct asks for its fields in its own text format: the shapes' turns are written
    in it (each tool call a step, then ``finish``, then the answer)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    import dspy
    from openinference.instrumentation.dspy import DSPyInstrumentor

    from tests.scripted_llm import Turn, answer

    DSPyInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def fields(**values: str) -> Turn:
        text = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items())
        return answer(text + "[[ ## completed ## ]]")

    def step(tool: str, arguments: dict[str, Any]) -> Turn:
        return fields(next_thought=f"Call {tool}.", next_tool_name=tool,
                      next_tool_args=json.dumps(arguments))  # fmt: skip

    def ending(text: str) -> list[Turn]:
        return [step("finish", {}), fields(reasoning="Done.", answer=text)]

    marker = "[edges-dspy]"
    tasks = M.script(llm, marker)  # the refusal, filter and HTTP 500 turns as they are
    # The others again in DSPy's format (a later script of a task replaces the first).
    llm.script(tasks["long"], [*(step("tick", {"n": n}) for n in range(1, E.LONG_CALLS + 1)),
                               *ending(E.LONG_ANSWER)])  # fmt: skip
    llm.script(tasks["hostile"], [step("lookup", {"query": E.HOSTILE}), *ending(E.HOSTILE_ANSWER)])
    llm.script(tasks["raises"], [step("open_vault", {"code": "1234"}), *ending(M.RAISES_ANSWER)])
    lm = dspy.LM(f"openai/{MODEL}", api_base=llm.base_url, api_key="none", cache=False,
                 num_retries=0)  # fmt: skip
    dspy.configure(lm=lm)
    agent = dspy.ReAct("question -> answer", tools=[tools.tick, tools.lookup, tools.open_vault],
                       max_iters=E.LONG_CALLS + 10)  # fmt: skip
    return {
        shape: M.outcome(task, lambda t=task: agent(question=t).answer)
        for shape, task in tasks.items()
        if shape != "cancelled"
    }


def _beeai(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    """A ``RequirementAgent`` answers through its ``final_answer`` tool: the scripted model
    calls it last."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    from beeai_framework.adapters.openai import OpenAIChatModel
    from beeai_framework.agents.requirement import RequirementAgent
    from beeai_framework.tools import tool
    from openinference.instrumentation.beeai import BeeAIInstrumentor

    from tests.scripted_llm import call_tool

    BeeAIInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    @tool
    def tick(n: int) -> str:
        """Count one tick."""
        return tools.tick(n)

    @tool
    def lookup(query: str) -> str:
        """Look a query up."""
        return tools.lookup(query)

    @tool
    def open_vault(code: str) -> str:
        """Open the vault with a code."""
        return tools.open_vault(code)

    @tool
    async def wait_forever(seconds: int) -> str:
        """Wait for a slow service."""
        return await tools.wait_forever(seconds)

    def make_agent() -> Any:
        model = OpenAIChatModel(MODEL, api_key="none", base_url=llm.base_url)
        own = [tick, lookup, open_vault, wait_forever]
        return RequirementAgent(llm=model, tools=own, name="edge_agent")

    async def ask(task: str) -> str:
        done = await make_agent().run(task, max_iterations=E.LONG_CALLS + 10)
        return str(done.last_message.text)

    final = lambda text: call_tool("final_answer", {"response": text})  # noqa: E731
    tasks = M.script(llm, "[edges-beeai]", final=final)
    out = {
        shape: M.outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
    out["cancelled"] = {
        "task": tasks["cancelled"],
        **asyncio.run(E.cancel_when_started(ask(tasks["cancelled"]), tools)),
    }
    return out


def _mcp(capture: Capture, llm: ScriptedLLM) -> Outcomes:
    """The edge tools served by an MCP server (the ``mcp`` SDK's ``MCPServer`` over
    streamable HTTP on 127.0.0.1, as capture_mcp.py serves it) to an OpenAI Agents SDK
    agent; traced by OpenInference's Agents SDK and MCP instrumentors and the ``mcp`` SDK's
    own spans. The shapes that exercise the tools: the long run, hostile text, a tool that
    raises, a run cancelled while a tool runs."""
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner
    from agents.mcp import MCPServerStreamableHttp
    from mcp.server.mcpserver import MCPServer
    from openai import AsyncOpenAI
    from openinference.instrumentation.mcp import MCPInstrumentor
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from opentelemetry import trace

    from tests.frameworks.captured.capture_mcp import _Served

    trace.set_tracer_provider(capture.provider)  # the mcp SDK traces to the global provider
    OpenAIAgentsInstrumentor().instrument(tracer_provider=capture.provider)
    MCPInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()
    server = MCPServer("edges")
    for function in (tools.tick, tools.lookup, tools.open_vault, tools.wait_forever):
        server.tool()(function)

    async def ask(url: str, task: str) -> Any:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        model = OpenAIChatCompletionsModel(model=MODEL, openai_client=client)
        async with MCPServerStreamableHttp({"url": url}, name="edges") as mcp:
            agent = Agent(name="edge_agent", model=model, mcp_servers=[mcp],
                          model_settings=ModelSettings(include_usage=True))  # fmt: skip
            done = await Runner.run(agent, task, max_turns=E.LONG_CALLS + 10)
            return done.final_output

    tasks = M.script(llm, "[edges-mcp]")
    shapes = ("long", "hostile", "raises")
    with _Served(server) as served:
        out = {shape: M.outcome(tasks[shape], lambda s=shape: ask(served.url, tasks[s]))
               for shape in shapes}  # fmt: skip
        seen = asyncio.run(E.cancel_when_started(ask(served.url, tasks["cancelled"]), tools))
        out["cancelled"] = {"task": tasks["cancelled"], **seen}
    return out


FRAMEWORKS: dict[str, tuple[tuple[str, ...], Callable[[Capture, ScriptedLLM], Outcomes]]] = {
    "crewai": (
        ("crewai", "openinference-instrumentation-crewai", "openinference-instrumentation-openai"),
        _crewai,
    ),
    "llamaindex": (
        (
            "llama-index-core",
            "llama-index-llms-openai-like",
            "openinference-instrumentation-llama-index",
        ),  # fmt: skip
        _llamaindex,
    ),
    "autogen": (
        ("autogen-agentchat", "autogen-ext", "openinference-instrumentation-autogen-agentchat"),
        _autogen,
    ),
    "agno": (("agno", "openinference-instrumentation-agno"), _agno),
    "semantic_kernel": (("semantic-kernel",), _semantic_kernel),
    "agent_framework": (("agent-framework-core", "agent-framework-openai"), _agent_framework),
    "haystack": (("haystack-ai", "openinference-instrumentation-haystack"), _haystack),
    "dspy": (("dspy", "openinference-instrumentation-dspy", "litellm"), _dspy),
    "beeai": (("beeai-framework", "openinference-instrumentation-beeai", "litellm"), _beeai),
    "mcp": (
        (
            "openai-agents",
            "mcp",
            "openinference-instrumentation-openai-agents",
            "openinference-instrumentation-mcp",
        ),  # fmt: skip
        _mcp,
    ),
}


def main(framework: str, out: Path) -> None:
    packages, run = FRAMEWORKS[framework]
    limits = SpanLimits(max_span_attributes=SPAN_ATTRIBUTE_COUNT)
    capture = Capture(out, (*packages, *CORE), span_limits=limits)
    with ScriptedLLM() as llm:
        capture.expected["edges"] = run(capture, llm)
    capture.write_spans(f"edges_{framework}.otlp.gz")
    capture.write_expected(f"edges_{framework}.expected.json")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
