"""The README's settings tables and the code agree with instrumentation/env.py.

Adding a variable without a README row, documenting one that does not exist, or
reading an AGENT_AUDIT_* name that env.py does not declare fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from instrumentation.env import VARIABLES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("collector", "instrumentation", "agent", "ssh_tools", "dashboard")
# A full name (a prefix such as AGENT_AUDIT_SSH_* ends in "_" and is not one).
_NAME = re.compile(r"\bAGENT_AUDIT_[A-Z0-9_]*[A-Z0-9]\b(?!\*)")


def _documented() -> set[str]:
    names: set[str] = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            names.update(_NAME.findall(first_cell))
    return names


def test_readme_tables_document_exactly_the_declared_variables() -> None:
    documented = _documented()
    assert sorted(documented - set(VARIABLES)) == [], "documented but not declared"
    assert sorted(set(VARIABLES) - documented) == [], "declared but not documented"


def test_code_names_only_declared_variables() -> None:
    used: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _NAME.findall(path.read_text()):
                used.setdefault(name, str(path.relative_to(ROOT)))
    assert {n: p for n, p in used.items() if n not in VARIABLES} == {}


def test_each_variable_declares_a_doc_and_a_reader() -> None:
    for variable in VARIABLES.values():
        assert variable.doc and variable.readers, variable.name
