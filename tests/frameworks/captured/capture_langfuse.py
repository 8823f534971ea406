"""A tool loop written by hand and traced with the Langfuse SDK, as its documentation shows:
``@observe(as_type="agent")`` on the agent, ``@observe(as_type="tool")`` on each tool and the
OpenAI client from ``langfuse.openai`` (a ``generation`` per call), against the scripted
model; writes the spans exported, as OTLP protobuf, plus what the loop returned.

    VENV/bin/python -m tests.frameworks.captured.capture_langfuse [OUT_DIR]

Needs ``langfuse`` and ``openai`` in a virtualenv of their own; the versions used are written
into the expectations file. OUT_DIR defaults to this folder (the committed capture). The
Langfuse client is given an in-memory exporter (its ``span_exporter``): nothing is sent to
a Langfuse server. Besides the shared agent, an agent asked through a tool of another shows
a sub-agent, ``@observe()`` on a function making one call (Langfuse's quickstart) the
default observation type, and a lone ``generation`` (a call with nothing around it) what
one call is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from langfuse import observe
from langfuse.openai import OpenAI

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture
from tests.frameworks.captured.langfuse_memory import langfuse_into, write_langfuse_capture
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
PACKAGES = ("langfuse", "openai", "opentelemetry-sdk")
MODEL = "scripted-langfuse"
PARENT_TASK = "[langfuse-parent] Ask the converter for 18C."
CHILD_TASK = "[langfuse-child] 18C in F?"
LONE_TASK = "[langfuse-lone] Say hello."
PLAIN_TASK = "[langfuse-plain] Name a city in France."


def _schema(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


class Loop:
    """An agent as scripts write it: ask the model, run the tools it calls, until it
    answers with text. Each tool and the agent itself are Langfuse observations."""

    def __init__(self, llm: ScriptedLLM) -> None:
        self.client = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        self.weather = S.Tools()
        self.tools = {
            "get_weather": observe(as_type="tool", name="get_weather")(self.weather.get_weather),
            "to_fahrenheit": observe(as_type="tool", name="to_fahrenheit")(S.Tools.to_fahrenheit),
            "converter": observe(as_type="tool", name="converter")(self.converter),
        }
        self.calls: list[dict[str, Any]] = []

    def converter(self, task: str) -> str | None:
        """Another agent, asked through a tool."""
        return self.agent(task, ["to_fahrenheit"])

    @observe(as_type="agent", name="weather_agent")
    def agent(self, task: str, tool_names: list[str]) -> str | None:
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        for _ in range(6):
            response = self.client.chat.completions.create(
                model=MODEL,
                messages=messages,
                tools=[_schema(n) for n in tool_names],  # type: ignore[arg-type,misc]
            )
            message = response.choices[0].message
            if not message.tool_calls:
                return message.content
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                name, args = call.function.name, json.loads(call.function.arguments)  # type: ignore[union-attr]
                try:
                    result, failed = json.dumps(self.tools[name](**args)), False
                except Exception as exc:  # noqa: BLE001 - the model is told, as scripts do
                    result, failed = f"error: {exc}", True
                self.calls.append({"name": name, "args": args, "result": result, "error": failed})
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        return None


@observe()
def _prompt(question: str) -> list[dict[str, str]]:
    """A helper of the user's own, observed with the default type (a ``span``)."""
    return [{"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": question}]  # fmt: skip


@observe()
def ask(client: OpenAI, question: str) -> str | None:
    """Langfuse's quickstart shape: ``@observe()`` on the function making the call."""
    response = client.chat.completions.create(model=MODEL, messages=_prompt(question))  # type: ignore[arg-type]
    return response.choices[0].message.content


def _run(loop: Loop, task: str, tool_names: list[str]) -> dict[str, Any]:
    try:
        done = loop.agent(task, tool_names)
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}", "tools": loop.calls}
    return {"task": task, "answer": done, "tools": loop.calls}


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    langfuse = langfuse_into(capture)
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[langfuse]")
        expected["success"] = _run(Loop(llm), task, ["get_weather", "to_fahrenheit"])
        expected["success"]["model_calls"] = len(llm.requests_for("[langfuse] "))
        expected["fails"] = _run(Loop(llm), failing, ["get_weather"])
        llm.script(PARENT_TASK, [call_tool("converter", {"task": CHILD_TASK}),
                                 answer("The converter says 64.4F.")])  # fmt: skip
        llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
        expected["sub_agent"] = _run(Loop(llm), PARENT_TASK, ["converter"])
        expected["sub_agent"]["sub_task"] = CHILD_TASK
        llm.script(PLAIN_TASK, [answer("Paris", input_tokens=20, output_tokens=1)])
        plain = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        expected["plain"] = {"task": PLAIN_TASK, "answer": ask(plain, PLAIN_TASK)}
        llm.script(LONE_TASK, [answer("Hello!", input_tokens=7, output_tokens=2)])
        lone = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        said = lone.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": LONE_TASK}]
        )
        expected["lone"] = {"task": LONE_TASK, "answer": said.choices[0].message.content}
    write_langfuse_capture(langfuse, capture, "langfuse")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
