"""Run a Node.js framework on the edge shapes of edges_more_scenario.py against the scripted
model and write the spans it exported (``edges_<FRAMEWORK>.otlp.gz``) plus what its calls
returned (``edges_<FRAMEWORK>.expected.json``).

    python -m tests.frameworks.captured.capture_edges_node FRAMEWORK DIR/node_modules [OUT_DIR]

FRAMEWORK is ``ai_sdk`` (``ai_sdk/agent_edges.mjs``: ``generateText``; DIR as
capture_ai_sdk.py installs it) or ``mastra`` (``mastra/agent_edges.mjs``: an ``Agent``;
DIR as capture_mastra.py installs it). The run cancelled in a tool is aborted through the
call's ``abortSignal`` once ``wait_forever`` runs.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

from tests.frameworks.captured import capture_ai_sdk, capture_mastra
from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.node_capture import HERE, package_versions, run_node_agent
from tests.scripted_llm import ScriptedLLM

PACKAGES = {"ai_sdk": capture_ai_sdk.PACKAGES, "mastra": capture_mastra.PACKAGES}


def main(framework: str, node_modules: Path, out: Path) -> None:
    versions = package_versions(node_modules, PACKAGES[framework])
    # What the tools say, as JSON (an environment variable cannot hold a NUL).
    os.environ["HOSTILE_RESULT_JSON"] = json.dumps(E.HOSTILE_RESULT)
    os.environ["RAISED"] = M.RAISED
    script = HERE / framework / "agent_edges.mjs"
    with ScriptedLLM() as llm:
        tasks = M.script(llm, f"[edges-{framework}]")
        returned, request = run_node_agent(node_modules, script, [], llm, [json.dumps(tasks)])
    body = gzip.compress(request.SerializeToString(), mtime=0)
    (out / f"edges_{framework}.otlp.gz").write_bytes(body)
    expected = {"versions": versions, "edges": returned}
    (out / f"edges_{framework}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else HERE)
