"""Run the DSPy ``ReAct`` program of capture_dspy.py streamed (``dspy.streamify``), traced by
openinference-instrumentation-dspy, against the scripted model and write the spans it
exported, as OTLP protobuf, plus what DSPy returned (the final ``Prediction``).

    VENV/bin/python -m tests.frameworks.captured.capture_dspy_streamed [OUT_DIR]

The venv is capture_dspy.py's.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

import dspy  # noqa: E402 - after the variable above

from tests.frameworks.captured.capture_dspy import capture  # noqa: E402

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
    capture(out, "dspy_streamed", "[dspy-streamed]", _run_streamed)


def _run_streamed(program: Any, question: str) -> tuple[Any, dict[str, Any]]:
    final, chunks = asyncio.run(_streamed(program, question))
    return final, {"chunks": chunks}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
