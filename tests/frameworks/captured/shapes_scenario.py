"""The shapes every framework's shapes capture runs, in one conversation: the model asks for
two tool calls in one turn (Paris and Lyon), the Paris call raises, the model asks again for
Paris alone and then answers, every answer streamed. Shared by the capture scripts; no
framework imported."""

from __future__ import annotations

import threading
from typing import Any

from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool

TASK = "What is the weather in Paris and in Lyon?"
ANSWER = "Paris: 18C and sunny. Lyon: 18C and sunny."
WEATHER_ERROR = "weather service timed out"
WEATHER = {"celsius": 18, "sky": "sunny"}
FIRST_ARGS = [{"city": "Paris"}, {"city": "Lyon"}]
# The tokens each of the three model calls reports, in order.
TOKENS = [(100, 10), (110, 11), (120, 12)]


class Tools:
    """``get_weather`` raises on its first call for Paris only, so the outcome is the same
    whichever of two calls made at once runs first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paris_calls = 0
        self.calls: list[dict[str, Any]] = []

    def get_weather(self, city: str) -> dict[str, Any]:
        """The current weather in a city."""
        with self._lock:
            first_paris = city == "Paris" and self._paris_calls == 0
            self._paris_calls += city == "Paris"
            call: dict[str, Any] = {"name": "get_weather", "args": {"city": city}}
            self.calls.append(call)
        if first_paris:
            call["error"] = True
            raise TimeoutError(WEATHER_ERROR)
        call.update(error=False, result=dict(WEATHER, city=city))
        return dict(WEATHER, city=city)

    def by_city(self) -> list[dict[str, Any]]:
        """The calls in a fixed order (the failed Paris call, Lyon, then Paris again)."""
        return sorted(self.calls, key=lambda c: (not c["error"], c["args"]["city"] != "Lyon"))


def script(llm: ScriptedLLM, marker: str, final: Turn | None = None) -> str:
    """Script the conversation under ``marker``; its task. ``final`` replaces the text
    answer (smolagents answers through its ``final_answer`` tool)."""
    task = f"{marker} {TASK}"
    both = Turn(
        tool_calls=tuple(ToolCall("get_weather", args) for args in FIRST_ARGS),
        input_tokens=TOKENS[0][0],
        output_tokens=TOKENS[0][1],
    )
    again = call_tool("get_weather", FIRST_ARGS[0], input_tokens=TOKENS[1][0],
                      output_tokens=TOKENS[1][1])  # fmt: skip
    last = final or answer(ANSWER, input_tokens=TOKENS[2][0], output_tokens=TOKENS[2][1])
    llm.script(task, [both, again, last])
    return task


def expected(task: str, answer_text: Any, tools: Tools, llm: ScriptedLLM) -> dict[str, Any]:
    """What the framework returned and what the model was asked."""
    requests = llm.requests_for(task.split(" ", 1)[0] + " ")
    return {
        "task": task,
        "answer": answer_text,
        "tools": tools.by_city(),
        "model_calls": len(requests),
        "streamed": all(bool(r.get("stream")) for r in requests),
        "input_tokens": sum(t[0] for t in TOKENS),
        "output_tokens": sum(t[1] for t in TOKENS),
    }
