"""Play the Google ADK scenarios (tests/frameworks/scenarios_adk*.py) under a release of ADK
other than the one the project's environment pins, and write the spans ADK exported (OTLP
protobuf) and what each run should read as (the scenarios' expectations, JSON).

    python3 -m venv /tmp/venv-adk && /tmp/venv-adk/bin/pip install google-adk==2.13.0 \
        openai opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
    PYTHONPATH=$PWD /tmp/venv-adk/bin/python -m tests.frameworks.captured.capture_google_adk \
        google_adk_2 [SCENARIO ...]

The files are ``NAME.otlp`` and ``NAME.expected.json`` next to this script; the versions used
are in the expectations. ADK traces itself through the global tracer provider, so the
capture's provider is made global before ADK is imported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from opentelemetry import trace

from tests.frameworks.captured.capture_files import Capture
from tests.frameworks.offline import refuse_internet
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
PACKAGES = ("google-adk", "google-genai", "opentelemetry-sdk")
# ADK's telemetry switches (google/adk/telemetry/context.py): ADK 2 records no content unless
# asked, and ADK_TELEMETRY_SCHEMA_VERSION_OPT_IN=1 brings back ADK 1's spans.
TELEMETRY_SETTINGS = (
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "ADK_TELEMETRY_SCHEMA_VERSION_OPT_IN",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
)
# What the parent asks its failing AgentTool child in ``sub_agent_fails`` (as
# scenarios_adk.SUB_AGENT_REQUEST, which imports ADK).
SUB_AGENT_REQUEST = "[adk-child-fails] What does the child say?"
# Each played as test_collector_frameworks.py plays it under the pinned release.
SCENARIOS = (
    "success",
    "tool_raises",
    "fails",
    "concurrent",
    "nested",
    "nested_deep",
    "max_steps",
    "streaming",
    "multi_turn",
    "parallel_tools",
    "transfer",
    "sequential",
    "skip_summarization",
    "empty_answer",
    "dict_tool_result",
    "sub_agent_fails",
)


def main(name: str, wanted: tuple[str, ...]) -> None:
    # The service the framework tests' checks expect (collector_checks.check_run).
    os.environ["OTEL_SERVICE_NAME"] = "fw-google-adk"
    capture = Capture(HERE, PACKAGES)
    capture.expected["environment"] = {k: os.environ.get(k) for k in TELEMETRY_SETTINGS}
    trace.set_tracer_provider(capture.provider)
    refuse_internet()  # the scripted model is on 127.0.0.1; nothing else
    from tests.frameworks import scenarios_adk, scenarios_adk_habits

    modules = (scenarios_adk, scenarios_adk_habits)
    results: list[dict[str, Any]] = []
    with ScriptedLLM() as llm:
        for scenario in wanted:
            play = next(getattr(m, scenario) for m in modules if hasattr(m, scenario))
            outcome = play(llm)
            if asyncio.iscoroutine(outcome):
                outcome = asyncio.run(outcome)
            runs = outcome if isinstance(outcome, list) else [outcome]
            results.append({"scenario": scenario, "runs": [dataclasses.asdict(r) for r in runs]})
    capture.expected["results"] = results
    capture.write_spans(f"{name}.otlp")
    capture.write_expected(f"{name}.expected.json")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "google_adk_2", tuple(sys.argv[2:]) or SCENARIOS)
