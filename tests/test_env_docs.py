"""The README's settings tables and the code agree with instrumentation/env.py.

Adding a variable without a README row, documenting one that does not exist, or
reading an AGENT_AUDIT_* name that env.py does not declare fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from instrumentation import env as E
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


# Files that may read AGENT_AUDIT_* variables without instrumentation/env.py, and why.
_OWN_READERS = {
    "instrumentation/env.py": "the declarations themselves",
    # The SSH forced command on the managed server: every command it checks starts a
    # new process, so it imports nothing beyond ssh_tools and the standard library.
    "ssh_tools/gateway.py": "reads AGENT_AUDIT_SSH_POLICY at the start of each SSH command",
}
_READS = {"get", "getenv", "pop"}
# The module constants of env.py that hold a declaration (TOKEN, API, ...).
VARIABLES_BY_CONSTANT = {k for k, v in vars(E).items() if isinstance(v, E.Variable)}


def _variable_aliases(files: list[Path]) -> set[str]:
    """Module-level names bound to a variable's name (``TOKEN_ENV = E.TOKEN.name``)."""
    aliases: set[str] = set()
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and _names_variable(node.value, set()):
                aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return aliases


def _names_variable(node: ast.expr, aliases: set[str]) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith("AGENT_AUDIT_")
    if isinstance(node, ast.Attribute) and node.attr == "name":  # E.TOKEN.name
        declared = node.value
        return isinstance(declared, ast.Attribute) and declared.attr in VARIABLES_BY_CONSTANT
    return isinstance(node, ast.Name) and node.id in aliases


def _is_environment(node: ast.expr) -> bool:
    # os.environ, or a mapping parameter named env/environ as the settings modules take it
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in {"env", "environ"}


def _reads_variable(node: ast.AST, aliases: set[str]) -> bool:
    key: ast.expr | None = None
    if isinstance(node, ast.Call) and node.args:
        if isinstance(node.func, ast.Attribute) and node.func.attr in _READS:
            key = node.args[0]
        elif any(map(_is_environment, node.args)):
            # a helper handed the environment and a name: _int(env, "AGENT_AUDIT_X")
            return any(_names_variable(arg, aliases) for arg in node.args)
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        key = node.slice
    elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
        key = node.left
    return key is not None and _names_variable(key, aliases)


def env_reads(root: Path) -> list[str]:
    """``file:line`` of every read of an AGENT_AUDIT_* value outside instrumentation/env.py.

    A read is ``x.get(NAME)``, ``os.getenv(NAME)``, ``x.pop(NAME)``, ``x[NAME]``,
    ``NAME in x`` or a helper handed the environment and NAME, where NAME is the
    variable's name as a literal, a ``.name`` of its declaration, or a module-level
    alias of either (writing ``env[NAME] = ...`` for a child process is no read).
    """
    files = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))]
    aliases = _variable_aliases(files)
    found: list[str] = []
    for path in files:
        where = str(path.relative_to(root))
        if where in _OWN_READERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if _reads_variable(node, aliases):
                found.append(f"{where}:{getattr(node, 'lineno', 0)}")
    return found


def test_every_variable_is_read_through_env_py() -> None:
    assert env_reads(ROOT) == [], "read E.<VARIABLE>.read(env) from instrumentation/env.py"
