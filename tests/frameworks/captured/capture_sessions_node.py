"""Run a Node.js framework on the sessions shapes of sessions_scenario.py (two tool calls
in one turn, one raising; tools answering an empty, a structured and a long result; a
wrong argument; a tool the agent does not have; a run given an earlier exchange) against
the scripted model and write the spans it exported (``sessions_<FRAMEWORK>.otlp.gz``) plus
what its calls returned (``sessions_<FRAMEWORK>.expected.json``).

    python -m tests.frameworks.captured.capture_sessions_node FRAMEWORK DIR/node_modules [OUT_DIR]

FRAMEWORK is ``ai_sdk`` (``ai_sdk/agent_sessions.mjs``: ``generateText``; DIR as
capture_ai_sdk.py installs it) or ``mastra`` (``mastra/agent_sessions.mjs``: an ``Agent``;
DIR as capture_mastra.py installs it) or ``openai_agents_js``
(``openai_agents_js/agent_sessions.cjs``: an ``Agent`` run by ``run``; DIR as
capture_openai_agents_js.py installs it).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

from tests.frameworks.captured import capture_ai_sdk, capture_mastra, capture_openai_agents_js
from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.node_capture import HERE, package_versions, run_node_agent
from tests.scripted_llm import ScriptedLLM

PACKAGES = {
    "ai_sdk": capture_ai_sdk.PACKAGES,
    "mastra": capture_mastra.PACKAGES,
    "openai_agents_js": capture_openai_agents_js.PACKAGES,
}
SCRIPTS = {"openai_agents_js": "agent_sessions.cjs"}


def main(framework: str, node_modules: Path, out: Path) -> None:
    versions = package_versions(node_modules, PACKAGES[framework])
    os.environ["LONG_TEXT_JSON"] = json.dumps(S.LONG_TEXT)
    os.environ["EARLIER_ANSWER"] = S.EARLIER_ANSWER
    script = HERE / framework / SCRIPTS.get(framework, "agent_sessions.mjs")
    with ScriptedLLM() as llm:
        tasks = S.script(llm, f"[sessions-{framework}]")
        returned, request = run_node_agent(node_modules, script, [], llm, [json.dumps(tasks)])
    body = gzip.compress(request.SerializeToString(), mtime=0)
    (out / f"sessions_{framework}.otlp.gz").write_bytes(body)
    expected = {"versions": versions, "sessions": returned}
    (out / f"sessions_{framework}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else HERE)
