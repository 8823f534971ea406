"""One ``/export`` or ``/backup`` at a time, from its copy being made to its last byte.

Each download is a copy of the data in a temporary file. The slot was free
once the copy was made, so every client asking while another downloaded got
a copy of the whole database on disk of its own. Now the slot is held until
the file has been sent (or the client is gone, or cut off for not reading:
collector/http_deadline.py), and given back on the event loop right after the
last byte is handed to the connection, before the file is removed, so a
client asking again at once is not refused by its own download.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import HTTPException
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

__all__ = ["take_download_slot", "give_download_slot", "SlotFileResponse"]

_slot = threading.BoundedSemaphore(1)


def take_download_slot(what: str) -> None:
    """Take the slot, or raise 429 at once (a wait would hold an API thread)."""
    if not _slot.acquire(blocking=False):
        raise HTTPException(429, f"{what} is already running; retry when it is done")


def give_download_slot() -> None:
    """Give the slot back when no response will (the copy failed)."""
    _slot.release()


class SlotFileResponse(FileResponse):
    """A download that gives the slot back once it is sent, however it ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot_given = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The file's removal (the background task, on a thread) comes after the
        # slot is given back, not before.
        cleanup, self.background = self.background, None
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._give()
            if cleanup is not None:
                await cleanup()

    def __del__(self) -> None:
        # A response never sent (the request failed after it was made) frees the slot
        # too; one whose construction failed never held it as a response.
        if getattr(self, "_slot_given", True) is False:
            self._give()

    def _give(self) -> None:
        if not self._slot_given:
            self._slot_given = True
            _slot.release()
