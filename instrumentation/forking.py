"""Keeping background threads alive across ``os.fork()`` (gunicorn, multiprocessing)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

__all__ = ["after_fork_in_child"]


def after_fork_in_child(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in each forked child, without keeping its object alive.

    A child process inherits no threads and may inherit locks held by threads
    of the parent; the method re-creates both.
    """
    if not hasattr(os, "register_at_fork"):
        return
    weak_method = weakref.WeakMethod(method)  # type: ignore[arg-type]

    def in_child() -> None:
        bound = weak_method()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=in_child)
