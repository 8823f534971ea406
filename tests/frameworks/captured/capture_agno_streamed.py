"""Run Agno streamed (``agent.run(task, stream=True, yield_run_output=True)``), traced by
openinference-instrumentation-agno, against the scripted model and write the spans it
exported, as OTLP protobuf, plus what Agno returned (its final ``RunOutput``).

    VENV/bin/python -m tests.frameworks.captured.capture_agno_streamed [OUT_DIR]

The agent and its venv are capture_agno.py's. Streamed, a run whose model call fails ends its
span OK with no output: only the model call's span, and Agno's ``RunErrorEvent``, say so.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from agno.run.agent import RunOutput
from openinference.instrumentation.agno import AgnoInstrumentor
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_agno import PACKAGES, _agent, _tool_calls
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent


def _streamed(llm: ScriptedLLM, task: str) -> tuple[RunOutput | None, list[Any]]:
    events = list(_agent(llm, S.Tools()).run(task, stream=True, yield_run_output=True))
    outputs = [e for e in events if isinstance(e, RunOutput)]
    return (outputs[-1] if outputs else None), events


def main(out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    AgnoInstrumentor().instrument(tracer_provider=provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[agno-streamed]")
        done, events = _streamed(llm, task)
        assert done is not None, [type(e).__name__ for e in events]
        expected["success"] = {
            "task": task,
            "answer": done.content,
            "status": str(done.status),
            "tools": _tool_calls(done),
            "input_tokens": done.metrics.input_tokens,
            "output_tokens": done.metrics.output_tokens,
            "model_calls": len(llm.requests_for("[agno-streamed] ")),
            "events": len(events),
        }
        failed, events = _streamed(llm, failing)
        expected["fails"] = {
            "task": failing,
            "status": str(failed.status) if failed else None,
            "answer": failed.content if failed else None,
            "events": [type(e).__name__ for e in events],
        }
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / "agno_streamed.otlp").write_bytes(encode_spans(spans).SerializeToString())
    (out / "agno_streamed.expected.json").write_text(
        json.dumps(expected, indent=2, default=str) + "\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
