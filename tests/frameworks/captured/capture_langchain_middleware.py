"""Run LangChain's ``create_agent`` (v1) with its built-in middleware on ``ChatOpenAI`` (the
scripted server), traced by openinference-instrumentation-langchain, and write the spans it
exported, as OTLP protobuf, plus what each ``invoke`` returned or raised.

    VENV/bin/python -m tests.frameworks.captured.capture_langchain_middleware [OUT_DIR]

Every agent has the shared tools and LangChain's documented tool-error middleware
(``wrap_tool_call``). The runs: ``ModelCallLimitMiddleware(run_limit=2)`` ending the run
(``exit_behavior="end"``, its default) and raising (``"error"``) while the model still asks
for tools; ``ToolCallLimitMiddleware(tool_name="get_weather", run_limit=1)`` refusing the
second call of the tool and the run going on; ``ModelFallbackMiddleware`` answering with a
second model after the first failed (HTTP 503). The versions used are written into the
expectations file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ToolCallLimitMiddleware,
)
from langchain_core.messages import AIMessage, ToolMessage
from langchain_openai import ChatOpenAI
from openinference.instrumentation.langchain import LangChainInstrumentor
from pydantic import SecretStr

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture
from tests.frameworks.captured.langchain_weather import PACKAGES, report_tool_errors, weather_tools
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail

HERE = Path(__file__).parent
MODEL, FALLBACK = "scripted-middleware", "scripted-middleware-fallback"
MODEL_LIMIT = 2
TASKS = {
    "limit_end": "[lcmw-limit-end] What is the weather in Paris? Keep checking.",
    "limit_error": "[lcmw-limit-error] What is the weather in Paris? Keep checking.",
    "tool_limit": "[lcmw-tool-limit] What is the weather in Paris and in Rome?",
    "fallback": "[lcmw-fallback] What is the weather in Paris, in Fahrenheit?",
}


def _model(llm: ScriptedLLM, name: str = MODEL) -> ChatOpenAI:
    return ChatOpenAI(
        model=name, base_url=llm.base_url, api_key=SecretStr("sk-scripted"), max_retries=0
    )


def _agent(llm: ScriptedLLM, *middleware: Any) -> Any:
    tools = S.Tools()
    tools.weather_calls = 1  # the weather service answers at once here
    return create_agent(
        _model(llm),
        tools=weather_tools(tools),
        name="weather_agent",
        middleware=[*middleware, report_tool_errors],
    )


def _script(llm: ScriptedLLM) -> None:
    paris = call_tool("get_weather", {"city": "Paris"})
    rome = call_tool("get_weather", {"city": "Rome"})
    for name in ("limit_end", "limit_error"):
        llm.script(TASKS[name], [], then_repeat=paris)
    llm.script(TASKS["tool_limit"], [paris, rome, answer("Sunny in Paris; no reading for Rome.")])
    llm.script(
        TASKS["fallback"],
        [
            fail(503, S.MODEL_ERROR),
            paris,
            call_tool("to_fahrenheit", {"celsius": 18}),
            answer(S.ANSWER),
        ],
    )


def _returned(task: str, invoke: Callable[[], dict[str, Any]], llm: ScriptedLLM) -> dict[str, Any]:
    """What ``invoke`` returned (the last message's text, the tool messages, the models
    that answered) or raised, and how many requests the model got."""
    seen: dict[str, Any] = {"task": task}
    try:
        state = invoke()
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        seen["raised"] = f"{type(exc).__name__}: {exc}"
    else:
        messages = state["messages"]
        seen["answer"] = messages[-1].content
        seen["tools"] = [
            {"name": m.name, "result": str(m.content), "error": m.status == "error"}
            for m in messages
            if isinstance(m, ToolMessage)
        ]
        seen["models"] = [
            m.response_metadata.get("model_name") for m in messages if isinstance(m, AIMessage)
        ]
    seen["model_calls"] = len(llm.requests_for(task))
    return seen


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    LangChainInstrumentor().instrument(tracer_provider=capture.provider)
    expected = capture.expected
    with ScriptedLLM() as llm:
        _script(llm)
        for name, middleware in (
            ("limit_end", ModelCallLimitMiddleware(run_limit=MODEL_LIMIT)),
            ("limit_error", ModelCallLimitMiddleware(run_limit=MODEL_LIMIT, exit_behavior="error")),
            ("tool_limit", ToolCallLimitMiddleware(tool_name="get_weather", run_limit=1)),
            ("fallback", ModelFallbackMiddleware(_model(llm, FALLBACK))),
        ):
            agent = _agent(llm, middleware)
            request = {"messages": [{"role": "user", "content": TASKS[name]}]}
            expected[name] = _returned(TASKS[name], lambda: agent.invoke(request), llm)  # noqa: B023
    expected["model_limit"] = MODEL_LIMIT
    capture.write_spans("langchain_middleware.otlp")
    capture.write_expected("langchain_middleware.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
