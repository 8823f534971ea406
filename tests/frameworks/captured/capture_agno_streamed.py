"""Run Agno streamed (``agent.run(task, stream=True, yield_run_output=True)``), traced by
openinference-instrumentation-agno, against the scripted model and write the spans it
exported, as OTLP protobuf, plus what Agno returned (its final ``RunOutput``).

    VENV/bin/python -m tests.frameworks.captured.capture_agno_streamed [OUT_DIR]

The agent and its venv are capture_agno.py's. Streamed, a run whose model call fails ends its
span OK with no output: only the model call's span, and Agno's ``RunErrorEvent``, say so.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agno.run.agent import RunOutput
from openinference.instrumentation.agno import AgnoInstrumentor

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_agno import PACKAGES, _agent, run_seen
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent


def _streamed(llm: ScriptedLLM, task: str) -> tuple[RunOutput | None, list[Any]]:
    events = list(_agent(llm, S.Tools()).run(task, stream=True, yield_run_output=True))
    outputs = [e for e in events if isinstance(e, RunOutput)]
    return (outputs[-1] if outputs else None), events


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[agno-streamed]")
        done, events = _streamed(llm, task)
        assert done is not None, [type(e).__name__ for e in events]
        model_calls = len(llm.requests_for("[agno-streamed] "))
        expected["success"] = {**run_seen(task, done, model_calls), "events": len(events)}
        failed, events = _streamed(llm, failing)
        expected["fails"] = {
            "task": failing,
            "status": str(failed.status) if failed else None,
            "answer": failed.content if failed else None,
            "events": [type(e).__name__ for e in events],
        }
    capture.write_spans("agno_streamed.otlp")
    capture.write_expected("agno_streamed.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
