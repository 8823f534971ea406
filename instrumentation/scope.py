"""A block usable both as ``with`` and as ``async with``.

Opening and closing a run or step only starts and ends spans, so the async
protocol runs the sync one instead of a second copy of the logic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["Scope"]

EnteredT = TypeVar("EnteredT")


class Scope(ABC, Generic[EnteredT]):
    """A context manager for ``with`` and ``async with`` built from ``_open`` and ``_close``.

    ``_close`` receives the exception leaving the block (or None); it must not
    swallow it: the protocol methods return None, so the exception propagates.
    """

    __slots__ = ()

    @abstractmethod
    def _open(self) -> EnteredT:
        """Start the block; the value is what ``as`` binds."""

    @abstractmethod
    def _close(self, exc: BaseException | None) -> None:
        """End the block; ``exc`` is the exception leaving it, if any."""

    def __enter__(self) -> EnteredT:
        return self._open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)

    async def __aenter__(self) -> EnteredT:
        return self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)
