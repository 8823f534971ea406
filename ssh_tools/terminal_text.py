"""Command output as plain text: terminal escape sequences and control characters removed.

Container logs are often coloured, and the colour codes sit inside the text:
``\\x1b[36mpassword\\x1b[0m=\\x1b[35mhunter2`` splits a ``key=value`` apart, so the
secret patterns of the audit trail did not see it and the password was stored.
A terminal that later shows the trail (``agent-audit run``, a ``less`` of an
export) would also obey the codes: move the cursor over earlier lines, set the
window title, hide text. They tell neither the agent nor a reader anything, so
the tools' output keeps none of them: line breaks and tabs stay, a carriage
return becomes a line break (progress bars, Windows line ends), escape
sequences, other C0 and C1 control characters and the Unicode bidirectional
overrides (which show text in another order than it is stored) are removed.
"""

from __future__ import annotations

import re

__all__ = ["plain_text"]

_ESCAPE_SEQUENCES = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]                 # CSI: colours, cursor movement, erasing
    | \x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?    # OSC: window title, hyperlinks (to the line end)
    | \x1b[PX^_][^\x1b\n]*(?:\x1b\\)?         # DCS, SOS, PM and APC strings
    | \x1b[ -/]*[0-~]                         # the other escape sequences
    | \x9b[0-?]*[ -/]*[@-~]                   # CSI in its one-character (C1) form
    | \x9d[^\x07\x9c\n]*[\x07\x9c]?           # OSC in its C1 form
    """,
    re.VERBOSE,
)
# C0 controls but tab and line feed, DEL, C1 controls, and the bidirectional
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """``text`` without escape sequences and control characters; line breaks kept."""
    if text.isprintable():  # the common case: nothing to remove (no line breaks either)
        return text
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_CHARACTERS.sub("", text)
