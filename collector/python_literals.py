"""Python literals read from text (the reprs some instrumentations record), across threads.

CPython 3.11 counts the depth of the AST it is turning into Python objects in one place
per interpreter (gh-106905): when another thread builds an AST meanwhile (a thread switch
inside a garbage collection is enough) the first fails with ``SystemError: AST constructor
recursion depth mismatch``. The collector reads reprs in its writer and its API threads
at once, and a span whose repr failed lost the steps it tells (a Haystack model call's
tool calls: its run stored with a step missing). Every read here
takes one lock; one that still meets the error (an AST built elsewhere in the process) is
read again: it is pure.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

__all__ = ["literal_eval"]

_ONE_AT_A_TIME = threading.RLock()  # reentrant: a finalizer run by a collection may read too
_ATTEMPTS = 3
_DEPTH_MISMATCH = "AST constructor recursion depth mismatch"


def literal_eval(text: str) -> Any:
    """``ast.literal_eval(text)``: raises what it raises for text that is no literal
    (ValueError, SyntaxError, MemoryError, RecursionError)."""
    for attempt in range(1, _ATTEMPTS + 1):
        with _ONE_AT_A_TIME:
            try:
                return ast.literal_eval(text)
            except SystemError as exc:
                if _DEPTH_MISMATCH not in str(exc) or attempt == _ATTEMPTS:
                    raise
    raise AssertionError("unreachable")  # the loop returns or raises
