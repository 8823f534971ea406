"""The shared agent as a loop written by hand around OpenAI's Responses API
(``OpenAI().responses.create`` with function tools, the answer's ``function_call`` items
sent back with a ``function_call_output`` item each, as OpenAI's function-calling guide
writes it), traced only by an OpenAI instrumentation, against the scripted model's
``POST /v1/responses``: a loop inside a span of the program's own, the same loop with no
span around it, a failing model (inside the program's span), a lone call. Writes
``openai_responses_<INSTRUMENTATION>.otlp`` and ``.expected.json``.

    VENV/bin/python -m tests.frameworks.captured.capture_responses_api INSTRUMENTATION [OUT]

INSTRUMENTATION is ``openinference`` (openinference-instrumentation-openai) or ``otel``
(OpenLLMetry's opentelemetry-instrumentation-openai, content traced). The OTel contrib
``opentelemetry-instrumentation-openai-v2`` (2.4b0) wraps chat completions and embeddings
only: it traces no Responses call. VENV holds ``openai``, the instrumentation and
``opentelemetry-sdk`` (versions written into the expectations).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.frameworks.captured import capture_llm_clients as clients
from tests.frameworks.captured import hand_loop
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
# A system prompt as Responses programs give one: apart from the conversation.
INSTRUCTIONS = "You answer weather questions with the tools you have."


def openai_responses_client(llm: ScriptedLLM, model: str) -> clients.Client:
    import json

    from openai import OpenAI

    api = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
    tools = [
        {"type": "function", "name": n, "description": d, "parameters": p}
        for n, d, p in clients.TOOLS
    ]

    def ask(items: list[dict[str, Any]]) -> hand_loop.Reply:
        response = api.responses.create(
            model=model,
            instructions=INSTRUCTIONS,
            input=items,  # type: ignore[arg-type]
            tools=tools,  # type: ignore[arg-type]
        )
        calls = [
            (item.call_id, item.name, json.loads(item.arguments))
            for item in response.output
            if item.type == "function_call"
        ]
        output = [item.model_dump(exclude_none=True) for item in response.output]
        return hand_loop.Reply(response.output_text or None, calls, output)

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        return {"type": "function_call_output", "call_id": call_id, "output": result}

    def say(task: str) -> str | None:
        return api.responses.create(model=model, input=task).output_text

    client = clients.Client()
    client.packages = ("openai",)
    client.ask, client.tool_message, client.say = ask, tool_message, say
    return client


def instrument(client_name: str, instrumentation: str, capture: Capture) -> tuple[str, ...]:
    """Turn the instrumentation on; the packages whose versions matter."""
    if instrumentation == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=capture.provider)
        return ("openinference-instrumentation-openai",)
    if instrumentation == "otel":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OtelOpenAI

        OtelOpenAI().instrument(tracer_provider=capture.provider)
        return ("opentelemetry-instrumentation-openai",)
    raise SystemExit(f"unknown instrumentation {instrumentation!r}")


if __name__ == "__main__":
    clients.main(
        "openai_responses",
        sys.argv[1],
        Path(sys.argv[2]) if len(sys.argv) > 2 else HERE,
        clients={"openai_responses": openai_responses_client},
        turn_on=instrument,
    )
