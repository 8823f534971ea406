"""Run a LangGraph agent (LangChain's ``create_agent`` on ``ChatOpenAI``, the scripted server),
traced by openinference-instrumentation-langchain, and write the spans it exported, as OTLP
protobuf, plus what the agent returned.

    VENV/bin/python -m tests.frameworks.captured.capture_langgraph [OUT_DIR]

The versions used are written into the expectations file. A failing tool is handed to the
model by LangChain's documented tool-error middleware (without it the run fails).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_openai import ChatOpenAI
from openinference.instrumentation.langchain import LangChainInstrumentor
from pydantic import SecretStr

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture, failure_seen
from tests.frameworks.captured.langchain_weather import PACKAGES, report_tool_errors, weather_tools
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent


def _agent(llm: ScriptedLLM) -> Any:
    model = ChatOpenAI(
        model="scripted-langgraph",
        base_url=llm.base_url,
        api_key=SecretStr("sk-scripted"),
        max_retries=0,
    )
    return create_agent(
        model,
        tools=weather_tools(S.Tools()),
        name="weather_agent",
        middleware=[report_tool_errors],
    )


def _tool_calls(messages: list[Any]) -> list[dict[str, Any]]:
    """Each tool call the agent made, with what the tool gave back."""
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    calls = []
    for message in messages:
        for call in getattr(message, "tool_calls", None) or []:
            reply = results[call["id"]]
            failed = reply.status == "error"
            content = str(reply.content)
            calls.append(
                {
                    "name": call["name"],
                    "args": call["args"],
                    "error": failed,
                    "result": None if failed else json.loads(content),
                }
            )
    return calls


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    LangChainInstrumentor().instrument(tracer_provider=capture.provider)
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[langgraph]")
        state = _agent(llm).invoke({"messages": [{"role": "user", "content": task}]})
        usages = [m.usage_metadata for m in state["messages"] if isinstance(m, AIMessage)]
        expected["success"] = {
            "task": task,
            "answer": state["messages"][-1].content,
            "tools": _tool_calls(state["messages"]),
            "input_tokens": sum(u["input_tokens"] for u in usages if u),
            "output_tokens": sum(u["output_tokens"] for u in usages if u),
            "model_calls": len(llm.requests_for("[langgraph] ")),
        }
        request = {"messages": [{"role": "user", "content": failing}]}
        expected["fails"] = failure_seen(failing, lambda: _agent(llm).invoke(request))
    capture.write_spans("langgraph.otlp")
    capture.write_expected("langgraph.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
