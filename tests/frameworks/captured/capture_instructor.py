"""Instructor's structured output (``instructor.from_openai``, ``response_model``,
``max_retries``) against the scripted model, traced by OpenInference's OpenAI
instrumentation (Instructor writes no spans of its own), each request inside a span of the
program's own: an answer that fails validation once and is retried, a model that fails,
and answers that never validate (the retries run out).

    VENV/bin/python -m tests.frameworks.captured.capture_instructor [OUT_DIR]

VENV holds ``instructor``, ``openai``, ``openinference-instrumentation-openai`` and
``opentelemetry-sdk`` (versions written into ``instructor.expected.json``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import instructor
from openai import OpenAI
from openinference.instrumentation.openai import OpenAIInstrumentor
from pydantic import BaseModel

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture, failure_seen
from tests.scripted_llm import ScriptedLLM, call_tool, fail

HERE = Path(__file__).parent
MODEL = "scripted-instructor"
PACKAGES = ("instructor", "openai", "openinference-instrumentation-openai", "opentelemetry-sdk")


class Weather(BaseModel):
    """The weather in a city, in Fahrenheit."""

    city: str
    fahrenheit: float
    sky: str


def _extract(client: Any, capture: Capture, task: str) -> Weather:
    with capture.provider.get_tracer("weather_script").start_as_current_span("extract_weather"):
        return client.chat.completions.create(
            model=MODEL,
            response_model=Weather,
            max_retries=2,
            messages=[{"role": "user", "content": task}],
        )


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    OpenAIInstrumentor().instrument(tracer_provider=capture.provider)
    valid = {"city": "Paris", "fahrenheit": 64.4, "sky": "sunny"}
    with ScriptedLLM() as llm:
        client = instructor.from_openai(
            OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        )
        task = f"[instructor] {S.TASK}"
        llm.script(
            task,
            [
                call_tool("Weather", {"city": "Paris"}, input_tokens=100, output_tokens=10),
                call_tool("Weather", valid, input_tokens=150, output_tokens=15),
            ],
        )
        weather = _extract(client, capture, task)
        capture.expected["success"] = {
            "task": task,
            "answer": weather.model_dump(),
            "model_calls": len(llm.requests_for("[instructor] ")),
        }
        failing = f"[instructor]-fails {S.FAILING_TASK}"
        llm.script(failing, [fail(503, S.MODEL_ERROR)], then_repeat=fail(503, S.MODEL_ERROR))
        capture.expected["fails"] = failure_seen(
            failing, lambda: _extract(client, capture, failing)
        )
        invalid = f"[instructor]-invalid {S.TASK}"
        llm.script(invalid, [], then_repeat=call_tool("Weather", {"city": "Paris"}))
        capture.expected["invalid"] = failure_seen(
            invalid, lambda: _extract(client, capture, invalid)
        )
        capture.expected["invalid"]["model_calls"] = len(llm.requests_for("[instructor]-invalid"))
    capture.write_spans("instructor.otlp")
    capture.write_expected("instructor.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
