"""Run the Vercel AI SDK agent (ai_sdk/agent.mjs) against the scripted model and write the
spans it exported, as one OTLP protobuf request, plus what ``generateText`` returned.

    (cd DIR && npm install ai @ai-sdk/openai-compatible zod @opentelemetry/api \\
        @opentelemetry/sdk-trace-base @opentelemetry/exporter-trace-otlp-proto \\
        @opentelemetry/context-async-hooks)
    python -m tests.frameworks.captured.capture_ai_sdk DIR/node_modules

The versions used are written into the expectations file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.node_capture import (
    HERE,
    package_versions,
    run_node_agent,
    write_capture,
)
from tests.scripted_llm import ScriptedLLM

PACKAGES = (
    "ai",
    "@ai-sdk/openai-compatible",
    "@opentelemetry/sdk-trace-base",
    "@opentelemetry/context-async-hooks",
)


def main(node_modules: Path) -> None:
    capture(node_modules, script="agent.mjs", name="ai_sdk")


def capture(node_modules: Path, *, script: str, name: str) -> None:
    """Run ``ai_sdk/{script}``; write ``{name}.otlp`` and ``{name}.expected.json``."""
    versions = package_versions(node_modules, PACKAGES)
    with ScriptedLLM() as llm:
        tasks = S.script(llm, "[ai-sdk]" if name == "ai_sdk" else f"[{name}]")
        returned, request = run_node_agent(node_modules, HERE / "ai_sdk" / script, tasks, llm)
    write_capture(name, request, {"versions": versions, **returned})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
