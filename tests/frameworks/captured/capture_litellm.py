"""The shared agent as a loop written by hand around ``litellm.completion`` (an
``openai/...`` model at the scripted server's ``api_base``), traced by OpenInference's
LiteLLM instrumentation, by LiteLLM's own OpenTelemetry callback (``callbacks=["otel"]``,
which takes the global tracer provider when one is set), or by both at once; a failing
model; a lone call with nothing around it. ``otel_request_span`` is the callback with
``USE_OTEL_LITELLM_REQUEST_SPAN=true`` (a ``litellm_request`` span per call even inside a
span of the program's; by default LiteLLM writes each call onto the enclosing span).

    VENV/bin/python -m tests.frameworks.captured.capture_litellm MODE [OUT_DIR]

MODE is ``openinference``, ``otel``, ``otel_request_span`` or ``both``.

VENV holds ``litellm``, ``openinference-instrumentation-litellm`` and ``opentelemetry-sdk``
(versions written into ``litellm_<mode>.expected.json``)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import litellm
from opentelemetry import trace

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured import hand_loop
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, answer

HERE = Path(__file__).parent
MODEL = "scripted-litellm"
PACKAGES = ("litellm", "openinference-instrumentation-litellm", "opentelemetry-sdk")
# LiteLLM's callback writes its spans from a worker after the call returns.
FLUSH_DEADLINE_S = 20.0


def _asker(base_url: str) -> hand_loop.Ask:
    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = litellm.completion(
            model=f"openai/{MODEL}",
            api_base=base_url,
            api_key="none",
            num_retries=0,
            messages=messages,
            tools=hand_loop.TOOL_SCHEMAS,
        )
        message = response.choices[0].message
        calls = [
            (c.id, c.function.name, json.loads(c.function.arguments))
            for c in message.tool_calls or []
        ]
        return hand_loop.Reply(message.content, calls, message.model_dump(exclude_none=True))

    return ask


def _instrument(mode: str, capture: Capture) -> None:
    if mode in ("openinference", "both"):
        from openinference.instrumentation.litellm import LiteLLMInstrumentor

        LiteLLMInstrumentor().instrument(tracer_provider=capture.provider)
    if mode == "otel_request_span":
        os.environ["USE_OTEL_LITELLM_REQUEST_SPAN"] = "true"
    if mode in ("otel", "otel_request_span", "both"):
        trace.set_tracer_provider(capture.provider)
        litellm.callbacks = ["otel"]


def _wait_for_spans(capture: Capture, count: int) -> None:
    """Until ``count`` model-call spans are finished (LiteLLM's callback ends its spans on
    a worker thread), within a deadline."""
    deadline = time.monotonic() + FLUSH_DEADLINE_S
    while time.monotonic() < deadline:
        calls = [s for s in capture.exporter.get_finished_spans() if s.name != "raw_gen_ai_request"]
        if len(calls) >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"only {len(calls)} of {count} model-call spans were exported")


def main(mode: str, out: Path) -> None:
    capture = Capture(out, PACKAGES)
    _instrument(mode, capture)
    with ScriptedLLM() as llm:
        ask = _asker(llm.base_url)
        marker = f"[litellm-{mode}]"
        task, failing = S.script(llm, marker)
        done = hand_loop.run(capture.provider, ask, task)
        done["model_calls"] = len(llm.requests_for(f"{marker} "))
        capture.expected["success"] = done
        capture.expected["fails"] = hand_loop.run(capture.provider, ask, failing)
        lone_task = f"[litellm-{mode}-lone] Say hello."
        llm.script(lone_task, [answer("Hello!", input_tokens=7, output_tokens=2)])
        lone = ask([{"role": "user", "content": lone_task}])
        capture.expected["lone"] = {"task": lone_task, "answer": lone.text}
        # Every call's span (or, in the shallow default, the two program spans and the lone
        # call's own) besides the raw request spans.
        count = 3 if mode == "otel" else done["model_calls"] + 4
        _wait_for_spans(capture, count)
        time.sleep(1.0)  # any late span of the same calls lands in the file too
    capture.write_spans(f"litellm_{mode}.otlp")
    capture.write_expected(f"litellm_{mode}.expected.json")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
