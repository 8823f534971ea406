"""Run the DSPy ``ReAct`` program of capture_dspy.py streamed (``dspy.streamify``), traced by
openinference-instrumentation-dspy, against the scripted model and write the spans it
exported, as OTLP protobuf, plus what DSPy returned (the final ``Prediction``).

    VENV/bin/python -m tests.frameworks.captured.capture_dspy_streamed [OUT_DIR]

The venv is capture_dspy.py's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

import dspy  # noqa: E402 - after the variable above
from openinference.instrumentation.dspy import DSPyInstrumentor  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from tests.frameworks.captured import agent_scenario as S  # noqa: E402
from tests.frameworks.captured.capture_dspy import PACKAGES, _fields, _step  # noqa: E402
from tests.scripted_llm import ScriptedLLM, fail  # noqa: E402

HERE = Path(__file__).parent


async def _streamed(program: Any, question: str) -> tuple[Any, int]:
    final, chunks = None, 0
    async for item in dspy.streamify(program)(question=question):
        if isinstance(item, dspy.Prediction):
            final = item
        else:
            chunks += 1
    return final, chunks


def main(out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    DSPyInstrumentor().instrument(tracer_provider=provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}
    with ScriptedLLM() as llm:
        task, failing = f"[dspy-streamed] {S.TASK}", f"[dspy-streamed]-fails {S.FAILING_TASK}"
        turns = [
            _step("get_weather", {"city": "Paris"}),
            _step("get_weather", {"city": "Paris"}),
            _step("to_fahrenheit", {"celsius": 18}),
            _step("finish", {}),
            _fields(reasoning="Converted.", answer=S.ANSWER),
        ]
        llm.script(task, turns)
        llm.script(failing, [fail(503, S.MODEL_ERROR)], then_repeat=fail(503, S.MODEL_ERROR))
        lm = dspy.LM("openai/scripted-dspy", api_base=llm.base_url, api_key="none",
                     cache=False, num_retries=0)  # fmt: skip
        dspy.configure(lm=lm)

        def agent(tools: S.Tools) -> Any:
            return dspy.ReAct("question -> answer", tools=[tools.get_weather, tools.to_fahrenheit])

        done, chunks = asyncio.run(_streamed(agent(S.Tools()), task))
        trajectory = done.trajectory
        calls = []
        for i in range(len(turns) - 1):
            observation = trajectory[f"observation_{i}"]
            failed = isinstance(observation, str) and observation.startswith("Execution error")
            name, args = trajectory[f"tool_name_{i}"], trajectory[f"tool_args_{i}"]
            result = None if failed else observation
            calls.append({"name": name, "args": args, "error": failed, "result": result})
        expected["success"] = {
            "task": task,
            "answer": done.answer,
            "tools": calls,
            "input_tokens": None,
            "output_tokens": None,  # the instrumentation records none
            "model_calls": len(llm.requests_for("[dspy-streamed] ")),
            "chunks": chunks,
        }
        try:
            asyncio.run(_streamed(agent(S.Tools()), failing))
            expected["fails"] = {"task": failing, "raised": None}
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / "dspy_streamed.otlp").write_bytes(encode_spans(spans).SerializeToString())
    (out / "dspy_streamed.expected.json").write_text(
        json.dumps(expected, indent=2, default=str) + "\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
