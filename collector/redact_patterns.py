"""The credential shapes: defined once in :mod:`instrumentation.redaction_patterns`.

The instrumentation redacts spans with the same patterns before they leave the
agent's process (or reach its on-disk spool), so the definitions live there;
this module keeps the collector's import path.
"""

from __future__ import annotations

from instrumentation.redaction_patterns import (
    DEFAULT_PATTERNS,
    REDACTED,
    Rule,
    compile_pattern,
    default_rules,
)

__all__ = ["REDACTED", "DEFAULT_PATTERNS", "compile_pattern", "Rule", "default_rules"]
