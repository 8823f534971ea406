"""The packages depend one way; this test fails when an import crosses a boundary.

Every ``import`` in the source (module level or inside a function) is read with
``ast``, so an import added anywhere is seen without running the code.

    instrumentation   imports none of the other four packages
    ssh_tools         imports no collector, dashboard or agent
    collector         its server modules import no collector.cli; collector.client
                      imports httpx and the standard library only
    dashboard         imports of collector only the REST client (collector.client), the
                      CSV cell rule the CLI shares (collector.csv_cells) and the lenient
                      JSON-text reader the collector's readers share (collector.json_text)
    agent             imports no dashboard
    bench             imports nothing from tests
Only the dashboard itself, and the ``agent-audit`` dispatcher that registers its
commands, import the dashboard.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("instrumentation", "collector", "ssh_tools", "dashboard", "agent", "bench")
DISPATCHER = "collector.cli"  # collector/cli/__init__.py: registers every package's commands
_STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# What the dashboard may import from the collector: all are standard-library modules.
_DASHBOARD_SHARES = ("collector.client", "collector.csv_cells", "collector.json_text")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = REPO) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import in the file, nested ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # "from dashboard import up_cmd" imports the module dashboard.up_cmd.
                candidate = f"{base}.{alias.name}"
                where = root / candidate.replace(".", "/")
                is_module = where.with_suffix(".py").exists() or where.is_dir()
                yield node.lineno, candidate if is_module else base


def top(name: str) -> str:
    return name.partition(".")[0]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violation(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None when it may."""
    owner, target = top(importer), top(imported)
    if owner == target and not (
        owner == "collector"
        and within(imported, "collector.cli")
        and not within(importer, "collector.cli")
    ):
        return None
    if owner == "collector" and within(imported, "collector.cli"):
        return "the server imports no CLI module"
    if owner == "instrumentation" and target in PACKAGES:
        return "instrumentation imports none of our other packages"
    if owner == "ssh_tools" and target in ("collector", "dashboard", "agent"):
        return "ssh_tools imports no collector, dashboard or agent"
    if target == "dashboard" and importer != DISPATCHER:
        return "only the dashboard (and the command dispatcher) import the dashboard"
    if owner == "dashboard" and target == "collector" and imported not in _DASHBOARD_SHARES:
        return (
            "the dashboard imports only the REST client, the CSV cell rule and the JSON-text"
            " reader of the collector"
        )
    if owner == "bench" and target == "tests":
        return "bench shares code with the tests through bench/, never tests/"
    if importer == "collector.client" and target not in _STDLIB | {"httpx"}:
        return "the REST client imports httpx and the standard library only"
    return None


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def crossings() -> list[str]:
    found = []
    for path in source_files():
        importer = module_name(path)
        for line, imported in imports(path):
            reason = violation(importer, imported)
            if reason:
                found.append(f"{path.relative_to(REPO)}:{line} imports {imported}: {reason}")
    return found


def test_no_package_imports_across_a_boundary() -> None:
    assert crossings() == []


def test_the_client_and_the_dispatcher_import_the_standard_library_at_module_level() -> None:
    # The gateway runs as `python -S -m collector.cli gateway` on a bare server.
    for module, allowed in (
        ("collector/cli/__init__.py", set()),
        ("collector/client.py", {"httpx"}),
        ("collector/csv_cells.py", set()),
        ("collector/json_text.py", set()),
    ):
        tree = ast.parse((REPO / module).read_text())
        names = [
            alias.name if isinstance(node, ast.Import) else node.module or ""
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else node.names[:1])
        ]
        outside = [
            n for n in names
            if top(n) not in _STDLIB | allowed
        ]  # fmt: skip
        assert outside == [], f"{module} imports {outside} at module level"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("collector.http_app", "collector.cli.verify"),
        ("instrumentation.run", "collector.client"),
        ("ssh_tools.gateway", "collector.settings"),
        ("agent.service", "dashboard.client"),
        ("dashboard.views.runs", "collector.store"),
        ("bench.load", "tests.support"),
        ("collector.client", "duckdb"),
    ],
)
def test_the_rules_catch_a_crossing(importer: str, imported: str) -> None:
    assert violation(importer, imported) is not None


def test_imports_inside_functions_and_relative_ones_are_read(tmp_path: Path) -> None:
    # The dispatcher's loaders import inside functions.
    seen = {name for _, name in imports(REPO / "collector" / "cli" / "__init__.py")}
    assert {"dashboard.up_cmd", "ssh_tools.gateway", "collector.cli.serve"} <= seen
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("def f():\n    from .sibling import x\n    import json\n")
    found = {name for _, name in imports(package / "mod.py", root=tmp_path)}
    assert found == {"pkg.sibling", "json"}


def test_the_collector_command_loads_no_streamlit() -> None:
    check = (
        "import sys; from collector.cli import build_parser; build_parser('collector'); "
        "assert 'streamlit' not in sys.modules and 'dashboard' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
