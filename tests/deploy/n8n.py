"""The example n8n workflow: loading it, and rendering its expressions with Node.js.

Without n8n (tests/deploy/test_n8n_real.py runs the real one), its expressions are
evaluated as the plain JavaScript they are, by ``node``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PATH = REPO_ROOT / "examples" / "n8n" / "container-crash-agent-analysis.json"
EVALUATOR = Path(__file__).with_name("n8n_expressions.js")
NODE = shutil.which("node")


def load_workflow() -> dict[str, Any]:
    return json.loads(WORKFLOW_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def node_named(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [n for n in workflow["nodes"] if n["name"] == name]
    assert len(matches) == 1, f"expected one node named {name!r}"
    return matches[0]


def nodes_of_type(workflow: dict[str, Any], node_type: str) -> list[dict[str, Any]]:
    return [n for n in workflow["nodes"] if n["type"] == node_type]


def render(values: list[tuple[Any, dict[str, Any]]]) -> list[Any]:
    """Evaluate n8n parameter values; each comes with its context (json, workflow, ...)."""
    assert NODE is not None, "node is not installed"
    items = [
        {
            "value": value,
            "context": {"workflow": {}, "execution": {}, "nodes": {}, "json": {}} | context,
        }
        for value, context in values
    ]
    result = subprocess.run(
        [NODE, str(EVALUATOR)],
        input=json.dumps({"items": items}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def run_set_node(node: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """The item a Set node (manual mode, assigned fields only) outputs."""
    assignments = node["parameters"]["assignments"]["assignments"]
    values = render([(a["value"], context) for a in assignments])
    return {a["name"]: value for a, value in zip(assignments, values, strict=True)}
