"""Attribute keys are named constants (collector/conventions/, instrumentation.attributes).

The mapping modules read other instrumentations' keys only through those names,
so a key is spelled once and a rename in a convention is a one-line change.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPING_MODULES = (
    "collector/frameworks.py",
    "collector/mapping.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "collector" / "rules").glob("*.py")),
)
# A dotted lowercase key such as "gen_ai.request.model" or "llm.token_count.prompt".
_DOTTED_KEY = re.compile(r"""["'][a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+["']""")


def test_mapping_modules_spell_no_attribute_key() -> None:
    found = {path: _DOTTED_KEY.findall((ROOT / path).read_text()) for path in MAPPING_MODULES}
    assert found == {path: [] for path in MAPPING_MODULES}


def test_each_convention_key_is_declared_once() -> None:
    declared: dict[str, list[str]] = {}
    files = [ROOT / "instrumentation" / "attributes.py"]
    files += sorted((ROOT / "collector" / "conventions").glob("*.py"))
    for path in files:
        for key in _DOTTED_KEY.findall(path.read_text()):
            declared.setdefault(key.strip("\"'"), []).append(path.name)
    assert {k: v for k, v in declared.items() if len(v) > 1} == {}
