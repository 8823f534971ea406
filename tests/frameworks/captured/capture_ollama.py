"""The shared agent as a loop written by hand around the Ollama Python client
(``ollama.Client.chat``), traced by OpenLLMetry's Ollama instrumentation, against the
scripted model's Ollama endpoint; a failing model; a lone call with nothing around it.

    VENV/bin/python -m tests.frameworks.captured.capture_ollama [OUT_DIR]

VENV holds ``ollama``, ``opentelemetry-instrumentation-ollama`` and ``opentelemetry-sdk``
(versions written into ``ollama.expected.json``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ollama import Client
from opentelemetry.instrumentation.ollama import OllamaInstrumentor

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured import hand_loop
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, answer

HERE = Path(__file__).parent
MODEL = "scripted-ollama"
LONE_TASK = "[ollama-lone] Say hello."


def _asker(client: Client) -> hand_loop.Ask:
    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = client.chat(model=MODEL, messages=messages, tools=hand_loop.TOOL_SCHEMAS)
        message = response.message
        calls = [
            (c.function.name, c.function.name, dict(c.function.arguments))
            for c in message.tool_calls or []
        ]
        return hand_loop.Reply(message.content, calls, message.model_dump(exclude_none=True))

    return ask


def _tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
    return {"role": "tool", "tool_name": name, "content": result}


def main(out: Path) -> None:
    capture = Capture(out, ("ollama", "opentelemetry-instrumentation-ollama", "opentelemetry-sdk"))
    OllamaInstrumentor().instrument(tracer_provider=capture.provider)
    with ScriptedLLM() as llm:
        client = Client(host=llm.ollama_host)
        ask = _asker(client)
        task, failing = S.script(llm, "[ollama]")
        done = hand_loop.run(capture.provider, ask, task, _tool_message)
        done["model_calls"] = len(llm.requests_for("[ollama] "))
        capture.expected["success"] = done
        capture.expected["fails"] = hand_loop.run(capture.provider, ask, failing, _tool_message)
        llm.script(LONE_TASK, [answer("Hello!", input_tokens=7, output_tokens=2)])
        lone = client.chat(model=MODEL, messages=[{"role": "user", "content": LONE_TASK}])
        capture.expected["lone"] = {"task": LONE_TASK, "answer": lone.message.content}
    capture.write_spans("ollama.otlp")
    capture.write_expected("ollama.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
