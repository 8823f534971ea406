"""Refuse connections off the loopback, so a framework that reaches the internet fails loudly.

A ``sys.addaudithook`` hook cannot be removed, so it is installed once and switched on and off.
"""

from __future__ import annotations

import sys

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_state = {"installed": False, "on": False}


def _refuse_internet(event: str, args: tuple[object, ...]) -> None:
    if event != "socket.connect" or not _state["on"]:
        return
    address = args[1] if len(args) > 1 else None
    if isinstance(address, tuple) and address and address[0] not in _LOOPBACK:
        raise ConnectionRefusedError(f"tried to reach {address!r} off the loopback")


def refuse_internet(on: bool = True) -> None:
    """Switch the guard on (or off) for this process."""
    if not _state["installed"]:
        sys.addaudithook(_refuse_internet)
        _state["installed"] = True
    _state["on"] = on
