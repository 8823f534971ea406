"""Two runs' steps aligned side by side, with what differs; pure.

Steps are aligned by their shape (kind and tool or model) with difflib's
longest-matching-blocks algorithm, so an extra tool call in one run shows as a
gap in the other rather than shifting every later pair.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.formatting import one_line
from dashboard.json_reading import NOT_JSON, parse_json
from dashboard.span_tree import KIND_ICONS, step_kind, step_preview

__all__ = ["StepPair", "align_steps", "differs_label", "step_label", "text_diff", "FIELDS"]

FIELDS = ("tool", "arguments", "output", "status", "tokens", "duration")
DURATION_RATIO = 1.5  # durations differ when one is 1.5x the other ...
DURATION_MIN_MS = 100.0  # ... and they are at least this far apart


@dataclass(frozen=True)
class StepPair:
    """Step ``a`` of the first run beside step ``b`` of the second; either may be missing."""

    a: dict[str, Any] | None
    b: dict[str, Any] | None
    differs: tuple[str, ...] = field(default=())

    @property
    def only_in(self) -> str | None:
        """``"a"`` or ``"b"`` when the step exists in one run only."""
        if self.a is None:
            return "b"
        if self.b is None:
            return "a"
        return None


def _shape(step: dict[str, Any]) -> tuple[str, str]:
    kind = step_kind(step)
    name = step.get("tool_name") if kind == "tool" else ""
    return kind, str(name or "")


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        parsed = parse_json(value)
        if parsed is NOT_JSON:
            return value.strip()
        value = parsed
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _tokens(step: dict[str, Any]) -> tuple[int, int]:
    return int(step.get("input_tokens") or 0), int(step.get("output_tokens") or 0)


def _durations_differ(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    low, high = sorted((float(a), float(b)))
    return high - low >= DURATION_MIN_MS and high >= low * DURATION_RATIO


def differences(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, ...]:
    """Which of :data:`FIELDS` differ between two aligned steps."""
    found = []
    if (a.get("tool_name") or "") != (b.get("tool_name") or "") or _shape(a) != _shape(b):
        found.append("tool")
    if _canonical(a.get("tool_args") or {}) != _canonical(b.get("tool_args") or {}):
        found.append("arguments")
    if _canonical(a.get("tool_result") or "") != _canonical(b.get("tool_result") or ""):
        found.append("output")
    if (a.get("status") or "") != (b.get("status") or "") or bool(a.get("error")) != bool(
        b.get("error")
    ):
        found.append("status")
    if _tokens(a) != _tokens(b):
        found.append("tokens")
    if _durations_differ(a.get("duration_ms"), b.get("duration_ms")):
        found.append("duration")
    return tuple(found)


def align_steps(
    steps_a: Sequence[dict[str, Any]], steps_b: Sequence[dict[str, Any]]
) -> list[StepPair]:
    """The two step lists aligned; unmatched steps pair with None."""
    shapes_a = [_shape(s) for s in steps_a]
    shapes_b = [_shape(s) for s in steps_b]
    matcher = difflib.SequenceMatcher(a=shapes_a, b=shapes_b, autojunk=False)
    pairs: list[StepPair] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a1 - a0 == b1 - b0):
            for sa, sb in zip(steps_a[a0:a1], steps_b[b0:b1], strict=True):
                pairs.append(StepPair(sa, sb, differences(sa, sb)))
            continue
        # Unequal runs of different length: pair what lines up, the rest stands alone.
        common = min(a1 - a0, b1 - b0)
        for offset in range(common):
            sa, sb = steps_a[a0 + offset], steps_b[b0 + offset]
            pairs.append(StepPair(sa, sb, differences(sa, sb)))
        pairs += [StepPair(s, None, ("missing",)) for s in steps_a[a0 + common : a1]]
        pairs += [StepPair(None, s, ("missing",)) for s in steps_b[b0 + common : b1]]
    return pairs


def step_label(step: dict[str, Any] | None) -> str:
    """A step in one line for the aligned table: kind icon, tool or model, a preview."""
    if step is None:
        return ""
    kind = step_kind(step)
    name = step.get("tool_name") or step.get("model") or step.get("action_type") or "step"
    return one_line(f"{KIND_ICONS.get(kind, '•')} {name} {step_preview(step, 70)}", 110)


def differs_label(pair: StepPair) -> str:
    """What differs in an aligned pair, in words (``only in B``, ``arguments, output``)."""
    return f"only in {pair.only_in.upper()}" if pair.only_in else ", ".join(pair.differs)


def text_diff(a: object, b: object, *, label_a: str = "A", label_b: str = "B") -> str:
    """A unified diff of two texts (JSON is compared indented)."""

    def lines(value: object) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, str):
            value = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
        else:
            parsed = parse_json(value)
            if isinstance(parsed, dict | list):
                value = json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=True)
        return str(value).splitlines()

    return "\n".join(
        difflib.unified_diff(lines(a), lines(b), fromfile=label_a, tofile=label_b, lineterm="")
    )
