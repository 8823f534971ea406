"""Whether the ``/sql`` worker holds too much memory after a query to serve the next.

DuckDB keeps what a query allocated outside its buffer pool when the query fails
for want of memory: after ``SELECT len(list_transform(range(100000), x ->
repeat('x', 100000)))`` answered "Out of Memory Error", the worker stayed at
1.5-1.7 GB resident and its address space within a few MB of its limit, for
as long as it lived (closing the database gave it back; ``malloc_trim`` and a
fixed mmap threshold did not). The next queries then failed at random in
whatever needed memory next, a thread for the query's time limit included
("can't start new thread"). A worker past these marks answers its query, then
is replaced by the collector (:mod:`collector.sql_sandbox`); the new one takes
over the copy on disk, so the cost is a process start.

Pure but for reading ``/proc/self/statm`` (Linux; elsewhere nothing is measured
and the worker is never replaced for its memory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryHeld", "held_memory", "spent_reason"]

# Resident memory a worker may keep after a query: DuckDB's own limit, which its
# buffer pool fills with the copy's blocks, plus this much for Python, Arrow and
# the catalog (a fresh worker: ~170 MB).
_RESIDENT_MARGIN_MB = 512
# Address space a worker may keep reserved, as a share of its limit: above it a
# thread stack or an Arrow buffer may no longer fit.
_ADDRESS_SHARE = 0.8


@dataclass(frozen=True)
class MemoryHeld:
    """The process's resident memory and address space, in MiB."""

    resident_mb: float
    address_mb: float


def held_memory(statm: Path = Path("/proc/self/statm")) -> MemoryHeld | None:
    """What this process holds now, or None where ``statm`` cannot be read."""
    try:
        fields = statm.read_text().split()
        pages_size, pages_resident = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    page_mb = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    return MemoryHeld(resident_mb=pages_resident * page_mb, address_mb=pages_size * page_mb)


def spent_reason(held: MemoryHeld | None, *, memory_mb: int, address_space_mb: int) -> str | None:
    """Why a worker holding ``held`` should be replaced, or None when it may go on."""
    if held is None:
        return None
    resident_cap = memory_mb + _RESIDENT_MARGIN_MB
    if held.resident_mb > resident_cap:
        return f"it kept {held.resident_mb:,.0f} MB resident (more than {resident_cap:,} MB)"
    if address_space_mb > 0 and held.address_mb > _ADDRESS_SHARE * address_space_mb:
        return (
            f"it kept {held.address_mb:,.0f} MB of address space reserved "
            f"(its limit is {address_space_mb:,} MB)"
        )
    return None
