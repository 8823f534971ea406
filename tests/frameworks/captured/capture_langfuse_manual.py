"""Other ways code is traced with the Langfuse SDK, against the scripted model; writes
``langfuse_manual.otlp`` and what each run returned (``langfuse_manual.expected.json``).

    VENV/bin/python -m tests.frameworks.captured.capture_langfuse_manual [OUT_DIR]

Needs ``langfuse`` and ``openai`` in a virtualenv of their own. Shapes: an agent opened with
``start_as_current_observation(as_type="agent", input=<text>)`` whose model call is a
generation of the user's own (``@observe(as_type="generation")`` around a plain HTTP call,
the model and Langfuse's own usage names given with ``update_current_generation``), its
tools as ``tool`` observations, the answer set with ``update``; and an agent given an
object (its task only in its model call's messages) whose tool raises and ends the run.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from langfuse import get_client, observe

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture
from tests.frameworks.captured.langfuse_memory import langfuse_into, write_langfuse_capture
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
PACKAGES = ("langfuse", "opentelemetry-sdk")
MODEL = "scripted-local"
TASK = "[langfuse-manual] What is 18C in F?"
RAISING_TASK = "[langfuse-raise] Weather in Paris?"


@observe(as_type="generation", name="local-chat")
def chat(base_url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A model called over plain HTTP, as scripts for a local server do."""
    body = json.dumps({"model": MODEL, "messages": messages}).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        reply = json.loads(response.read())
    get_client().update_current_generation(
        model=reply["model"],
        usage_details={
            "input": reply["usage"]["prompt_tokens"],
            "output": reply["usage"]["completion_tokens"],
        },  # fmt: skip
    )
    return dict(reply["choices"][0]["message"])


@observe(as_type="tool", name="to_fahrenheit")
def to_fahrenheit(celsius: float) -> float:
    return S.Tools.to_fahrenheit(celsius)


def agent(base_url: str, task: str, tools: dict[str, Any], given: Any) -> dict[str, Any]:
    langfuse = get_client()
    calls: list[dict[str, Any]] = []
    try:
        with langfuse.start_as_current_observation(
            as_type="agent", name="manual_agent", input=given
        ) as run:
            messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
            for _ in range(4):
                message = chat(base_url, messages)
                if not message.get("tool_calls"):
                    run.update(output=message["content"])
                    return {"task": task, "answer": message["content"], "tools": calls}
                messages.append(message)
                for call in message["tool_calls"]:
                    name = call["function"]["name"]
                    args = json.loads(call["function"]["arguments"])
                    result = json.dumps(tools[name](**args))
                    calls.append({"name": name, "args": args, "result": result})
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}", "tools": calls}
    return {"task": task, "answer": None, "tools": calls}


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    langfuse = langfuse_into(capture)
    expected = capture.expected
    with ScriptedLLM() as llm:
        llm.script(TASK, [call_tool("to_fahrenheit", {"celsius": 18}, input_tokens=40,
                                    output_tokens=4), answer("64.4F", input_tokens=50,
                                                             output_tokens=5)])  # fmt: skip
        expected["success"] = agent(llm.base_url, TASK, {"to_fahrenheit": to_fahrenheit}, TASK)
        llm.script(RAISING_TASK, [call_tool("get_weather", {"city": "Paris"})])
        weather = observe(as_type="tool", name="get_weather")(S.Tools().get_weather)
        expected["raises"] = agent(
            llm.base_url, RAISING_TASK, {"get_weather": weather},
            {"request": RAISING_TASK, "tools": ["get_weather"]},
        )  # fmt: skip
        expected["raises"]["tool"] = {"name": "get_weather", "args": {"city": "Paris"}}
    write_langfuse_capture(langfuse, capture, "langfuse_manual")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
