"""The agent every captured framework runs: two tools, the first failing once, then an answer;
and a run whose model call fails. Shared by the capture scripts; no framework imported."""

from __future__ import annotations

from typing import Any

from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail

TASK = "What is the weather in Paris, in Fahrenheit?"
ANSWER = "It is 64.4F and sunny in Paris."
FAILING_TASK = "What is the weather in Rome?"
WEATHER_ERROR = "weather service timed out"
WEATHER = {"celsius": 18, "sky": "sunny"}
MODEL_ERROR = "the model is overloaded"


class Tools:
    """get_weather fails on its first call; to_fahrenheit converts."""

    def __init__(self) -> None:
        self.weather_calls = 0

    def get_weather(self, city: str) -> dict[str, Any]:
        """The current weather in a city."""
        self.weather_calls += 1
        if self.weather_calls == 1:
            raise TimeoutError(WEATHER_ERROR)
        return dict(WEATHER, city=city)

    @staticmethod
    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        return round(celsius * 9 / 5 + 32, 1)


def script(llm: ScriptedLLM, marker: str) -> tuple[str, str]:
    """Script both conversations under ``marker``; return (task, failing task)."""
    task, failing = f"{marker} {TASK}", f"{marker}-fails {FAILING_TASK}"
    llm.script(
        task,
        [
            call_tool("get_weather", {"city": "Paris"}, input_tokens=100, output_tokens=10),
            call_tool("get_weather", {"city": "Paris"}, input_tokens=110, output_tokens=11),
            call_tool("to_fahrenheit", {"celsius": 18}, input_tokens=120, output_tokens=12),
            answer(ANSWER, input_tokens=130, output_tokens=13),
        ],
    )
    llm.script(failing, [fail(503, MODEL_ERROR)], then_repeat=fail(503, MODEL_ERROR))
    return task, failing
