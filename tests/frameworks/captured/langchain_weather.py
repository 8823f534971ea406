"""The LangChain pieces capture_langgraph.py and capture_langchain_middleware.py share: the
agent scenario's tools as LangChain tools, LangChain's documented tool-error middleware (a
failing tool handed to the model; without it the run fails; capture_shapes.py's LangGraph
agent has it too) and the packages whose versions the captures record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain.agents.middleware import wrap_tool_call
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool

from tests.frameworks.captured import agent_scenario as S

PACKAGES = (
    "langgraph",
    "langchain",
    "langchain-core",
    "langchain-openai",
    "openinference-instrumentation-langchain",
    "opentelemetry-sdk",
)


@wrap_tool_call
def report_tool_errors(request: Any, handler: Callable[[Any], Any]) -> Any:
    try:
        return handler(request)
    except Exception as exc:  # noqa: BLE001 - the model reads the error and retries
        return ToolMessage(
            content=f"Tool error: {exc}", tool_call_id=request.tool_call["id"], status="error"
        )


def weather_tools(tools: S.Tools) -> list[Any]:
    """``get_weather`` and ``to_fahrenheit``, answered by ``tools``."""

    @tool
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    @tool
    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        return tools.to_fahrenheit(celsius)

    return [get_weather, to_fahrenheit]
