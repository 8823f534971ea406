"""Run a Haystack ``Agent`` (traced by openinference-instrumentation-haystack) against the
scripted model and write the spans it exported, as OTLP protobuf, plus what Haystack returned.

    VENV/bin/python -m tests.frameworks.captured.capture_haystack [OUT_DIR]

Needs ``haystack-ai`` and ``openinference-instrumentation-haystack`` in a virtualenv of their
own; the versions used are written into the expectations file. OUT_DIR defaults to this
folder (the committed capture). Besides the shared agent (``haystack.otlp``), a ``Pipeline``
of a retriever, a prompt builder and the agent (``haystack_rag.otlp``) shows how a pipeline
and its retrieval read.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from haystack import Document, Pipeline
from haystack.components.agents import Agent
from haystack.components.builders import ChatPromptBuilder
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.dataclasses import ChatMessage
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.tools import AgentTool, create_tool_from_function
from haystack.utils import Secret
from openinference.instrumentation.haystack import HaystackInstrumentor
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.frameworks.captured import agent_scenario as S
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool

HERE = Path(__file__).parent
PACKAGES = ("haystack-ai", "openinference-instrumentation-haystack", "opentelemetry-sdk")
RAG_TASK = "[haystack-rag] Where is the Eiffel Tower?"
RAG_ANSWER = "It is in Paris."
DOCUMENTS = ("The Eiffel Tower is in Paris.", "The Colosseum is in Rome.")


def _generator(llm: ScriptedLLM, **options: Any) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(
        api_key=Secret.from_token("none"),
        model="scripted-haystack",
        api_base_url=llm.base_url,
        max_retries=0,
        **options,
    )


def _agent(llm: ScriptedLLM, tools: S.Tools, **options: Any) -> Agent:
    return Agent(
        chat_generator=_generator(llm),
        tools=[
            create_tool_from_function(tools.get_weather),
            create_tool_from_function(tools.to_fahrenheit),
        ],
        **options,
    )


def _tool_calls(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    calls = []
    for message in messages:
        for result in message.tool_call_results:
            calls.append(
                {
                    "name": result.origin.tool_name,
                    "args": result.origin.arguments,
                    "error": result.error,
                    "result": result.result,
                }
            )
    return calls


def _rag(llm: ScriptedLLM) -> dict[str, Any]:
    """A retriever feeding a prompt builder feeding the agent, in one ``Pipeline``."""
    llm.script(RAG_TASK, [answer(RAG_ANSWER, input_tokens=50, output_tokens=5)])
    store = InMemoryDocumentStore()
    store.write_documents([Document(content=text) for text in DOCUMENTS])
    template = [
        ChatMessage.from_user("{% for d in documents %}{{ d.content }}\n{% endfor %}" + RAG_TASK)
    ]
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=1))
    pipeline.add_component("prompt", ChatPromptBuilder(template=template, required_variables="*"))
    pipeline.add_component("agent", _agent(llm, S.Tools()))
    pipeline.connect("retriever.documents", "prompt.documents")
    pipeline.connect("prompt.prompt", "agent.messages")
    out = pipeline.run({"retriever": {"query": "Eiffel Tower"}}, include_outputs_from={"retriever"})
    return {
        "query": "Eiffel Tower",
        "documents": [d.content for d in out["retriever"]["documents"]],
        "answer": out["agent"]["last_message"].text,
    }


def _shapes(llm: ScriptedLLM) -> dict[str, Any]:
    """Other ways a Haystack agent runs: it stops on a tool (``exit_conditions``), two tool
    calls in one answer, its step limit, streamed, another agent as its tool, and a tool
    that raises with ``raise_on_tool_invocation_failure=True``."""
    found: dict[str, Any] = {}

    def run(key: str, agent: Agent, task: str, **options: Any) -> None:
        done = agent.run(messages=[ChatMessage.from_user(task)], **options)
        found[key] = {
            "task": task,
            "answer": done["last_message"].text,
            "exit_reason": done.get("exit_reason"),
            "tools": _tool_calls(done["messages"]),
            "model_calls": len(llm.requests_for(task)),
        }

    task = "[haystack-exit] Convert 18C."
    llm.script(task, [call_tool("to_fahrenheit", {"celsius": 18})])
    run("exit_on_tool", _agent(llm, S.Tools(), exit_conditions=["to_fahrenheit"]), task)

    task = "[haystack-two] Weather in Paris and 18C in F?"
    both = Turn(tool_calls=(ToolCall("to_fahrenheit", {"celsius": 18}),
                            ToolCall("get_weather", {"city": "Paris"})))  # fmt: skip
    llm.script(task, [both, answer("64.4F; sunny.")])
    tools = S.Tools()
    tools.weather_calls = 1  # no failure this time
    run("two_calls", _agent(llm, tools), task)

    task = "[haystack-limit] Keep converting."
    llm.script(task, [], then_repeat=call_tool("to_fahrenheit", {"celsius": 18}))
    run("max_steps", _agent(llm, S.Tools(), max_agent_steps=2), task)

    task = "[haystack-stream] What is 18C in F?"
    llm.script(task, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F.")])
    chunks: list[str] = []
    streamed = Agent(
        chat_generator=_generator(llm, streaming_callback=lambda c: chunks.append(c.content)),
        tools=[create_tool_from_function(S.Tools.to_fahrenheit)],
    )
    run("streamed", streamed, task)
    found["streamed"]["chunks"] = len(chunks)

    task, sub_task = "[haystack-parent] Ask the converter for 18C.", "[haystack-child] 18C in F?"
    llm.script(task, [call_tool("converter", {"messages": [{"role": "user", "content": [
        {"text": sub_task}]}]}), answer("The converter says 64.4F.")])  # fmt: skip
    llm.script(sub_task, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
    child = Agent(
        chat_generator=_generator(llm), tools=[create_tool_from_function(S.Tools.to_fahrenheit)]
    )
    converter = AgentTool(child, name="converter", description="Converts temperatures.")
    run("sub_agent", Agent(chat_generator=_generator(llm), tools=[converter]), task)
    found["sub_agent"]["sub_task"] = sub_task

    task = "[haystack-raise] Weather in Paris?"
    llm.script(task, [call_tool("get_weather", {"city": "Paris"})])
    strict = _agent(llm, S.Tools(), raise_on_tool_invocation_failure=True)
    try:
        strict.run(messages=[ChatMessage.from_user(task)])
        found["raises"] = {"task": task, "raised": None}
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        found["raises"] = {"task": task, "raised": f"{type(exc).__name__}: {exc}",
                           "tool": "get_weather", "args": {"city": "Paris"}}  # fmt: skip
    return found


def main(out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    HaystackInstrumentor().instrument(tracer_provider=provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[haystack]")
        done = _agent(llm, S.Tools()).run(messages=[ChatMessage.from_user(task)])
        expected["success"] = {
            "task": task,
            "answer": done["last_message"].text,
            "tools": _tool_calls(done["messages"]),
            "input_tokens": sum(
                (m.meta.get("usage") or {}).get("prompt_tokens", 0) for m in done["messages"]
            ),
            "output_tokens": sum(
                (m.meta.get("usage") or {}).get("completion_tokens", 0) for m in done["messages"]
            ),
            "model_calls": len(llm.requests_for("[haystack] ")),
        }
        try:
            _agent(llm, S.Tools()).run(messages=[ChatMessage.from_user(failing)])
            expected["fails"] = {"task": failing, "raised": None}
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}
        provider.force_flush()
        (out / "haystack.otlp").write_bytes(_encoded(exporter))
        exporter.clear()
        expected["rag"] = _rag(llm)
        provider.force_flush()
        (out / "haystack_rag.otlp").write_bytes(_encoded(exporter))
        exporter.clear()
        expected["shapes"] = _shapes(llm)
    provider.force_flush()
    (out / "haystack_shapes.otlp").write_bytes(_encoded(exporter))
    (out / "haystack.expected.json").write_text(json.dumps(expected, indent=2, default=str) + "\n")


def _encoded(exporter: InMemorySpanExporter) -> bytes:
    return bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
