"""WCAG 2 contrast between two CSS colours, for the tests that check legibility."""

from __future__ import annotations

import re

__all__ = ["contrast_ratio"]


def _luminance(css: str) -> float:
    """Relative luminance of ``rgb(r, g, b)`` / ``rgba(...)`` (alpha ignored), per WCAG 2."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)[:3]]
    linear = [
        (c / 255) / 12.92 if c / 255 <= 0.03928 else (((c / 255) + 0.055) / 1.055) ** 2.4
        for c in values
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), L1 the lighter colour: 1 (none) to 21 (black on white)."""
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
