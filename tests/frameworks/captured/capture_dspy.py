"""Run a DSPy ``ReAct`` program (traced by openinference-instrumentation-dspy) against the
scripted model and write the spans it exported, as OTLP protobuf, plus what DSPy returned.

    VENV/bin/python -m tests.frameworks.captured.capture_dspy [OUT_DIR]

Needs ``dspy`` and ``openinference-instrumentation-dspy`` in a virtualenv of their own; the
versions used are written into the expectations file. DSPy's ReAct asks the model for
fields in its own text format (not tool calls): the scripted turns answer in it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
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
from tests.scripted_llm import ScriptedLLM, Turn, answer, fail  # noqa: E402

HERE = Path(__file__).parent
PACKAGES = ("dspy", "openinference-instrumentation-dspy", "litellm", "opentelemetry-sdk")


def _fields(**fields: str) -> Turn:
    """An answer in DSPy's ChatAdapter format."""
    text = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in fields.items())
    return answer(text + "[[ ## completed ## ]]", input_tokens=100, output_tokens=10)


def _step(tool: str, arguments: dict[str, Any]) -> Turn:
    return _fields(
        next_thought=f"Call {tool}.", next_tool_name=tool, next_tool_args=json.dumps(arguments)
    )


def main(out: Path) -> None:
    capture(out, "dspy", "[dspy]", lambda program, question: (program(question=question), {}))


def capture(
    out: Path,
    name: str,
    marker: str,
    run: Callable[[Any, str], tuple[Any, dict[str, Any]]],
) -> None:
    """Play the scenario under ``marker``, each question asked by ``run(program, question)``
    (the final ``Prediction`` and what else to record of the run); write ``{name}.otlp``
    and ``{name}.expected.json`` into ``out``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    DSPyInstrumentor().instrument(tracer_provider=provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}
    with ScriptedLLM() as llm:
        task, failing = f"{marker} {S.TASK}", f"{marker}-fails {S.FAILING_TASK}"
        turns = [
            _step("get_weather", {"city": "Paris"}),
            _step("get_weather", {"city": "Paris"}),
            _step("to_fahrenheit", {"celsius": 18}),
            _step("finish", {}),
            _fields(reasoning="Converted.", answer=S.ANSWER),
        ]
        llm.script(task, turns)
        llm.script(failing, [fail(503, S.MODEL_ERROR)], then_repeat=fail(503, S.MODEL_ERROR))
        lm = dspy.LM(
            "openai/scripted-dspy",
            api_base=llm.base_url,
            api_key="none",
            cache=False,
            num_retries=0,
        )
        dspy.configure(lm=lm)

        def agent(tools: S.Tools) -> Any:
            return dspy.ReAct("question -> answer", tools=[tools.get_weather, tools.to_fahrenheit])

        done, more = run(agent(S.Tools()), task)
        trajectory = done.trajectory
        calls = []
        for i in range(len(turns) - 1):
            observation = trajectory[f"observation_{i}"]
            failed = isinstance(observation, str) and observation.startswith("Execution error")
            calls.append(
                {
                    "name": trajectory[f"tool_name_{i}"],
                    "args": trajectory[f"tool_args_{i}"],
                    "error": failed,
                    "result": None if failed else observation,
                }
            )
        expected["success"] = {
            "task": task,
            "answer": done.answer,
            "tools": calls,
            "input_tokens": None,
            "output_tokens": None,  # the instrumentation records none
            "model_calls": len(llm.requests_for(f"{marker} ")),
            **more,
        }
        try:
            run(agent(S.Tools()), failing)
            expected["fails"] = {"task": failing, "raised": None}
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / f"{name}.otlp").write_bytes(encode_spans(spans).SerializeToString())
    (out / f"{name}.expected.json").write_text(json.dumps(expected, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
