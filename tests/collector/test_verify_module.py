"""collector.verify is a library: importing it leaves the process as it was."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO

# Its dependencies are imported first (numpy, under pyarrow, adds filters of its own).
CHECK = """
import ast, importlib, sys, warnings
for node in ast.parse(open("collector/verify.py").read()).body:
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
    elif isinstance(node, ast.ImportFrom) and node.module:
        importlib.import_module(node.module)
before = list(warnings.filters)
import collector.verify
assert warnings.filters == before, "importing collector.verify changed the warning filters"
assert not any(name == "collector.cli" or name.startswith("collector.cli.") for name in sys.modules)
"""


def test_importing_verify_changes_no_warning_filter_and_loads_no_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
