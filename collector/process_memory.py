"""Process-wide allocator settings, applied once at the collector's start.

Measured under ``bench.load`` (README, Performance): with glibc's default of 8
malloc arenas per core, the collector's ~40 threads (gRPC workers, the writer,
DuckDB, the search index, the API's thread pool) each kept freed memory in
their own arena; pyarrow's default pool (mimalloc) kept ~35 MB of the ingest's
Arrow tables reserved after use. A cap of 4 arenas and the system allocator
for Arrow cut the peak by 30-50 MB; 2 arenas saved as much but cost
throughput at one run per request (threads waiting on arena locks).

glibc serves a block of 128 KiB or more with pages of its own (mmap), given
back when it is freed, but each such free raises that threshold to the
block's size: after the first request bodies and Arrow buffers were freed,
the next ones came from the arenas, and what they left there stayed resident
(arenas of ~115 MB with ~40 MB in use at the load's peak). A fixed threshold
keeps large blocks out of the arenas.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping

__all__ = ["apply_process_memory", "memory_figures"]

# glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_applied_arenas: int | None = None
_applied_mmap_kb: int | None = None


def apply_process_memory(
    arenas: int, mmap_kb: int = 0, env: MutableMapping[str, str] = os.environ
) -> None:
    """Cap glibc's malloc arenas, fix its mmap threshold (0: leave glibc's
    default for either) and choose Arrow's pool.

    Call before any thread starts: an arena already made stays. On a C library
    other than glibc there is no ``mallopt``, and nothing is changed.
    """
    global _applied_arenas, _applied_mmap_kb
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is not None:
        if arenas > 0 and mallopt(_M_ARENA_MAX, arenas) == 1:
            _applied_arenas = arenas
        # Setting it also stops glibc from raising it (and its trim threshold).
        if mmap_kb > 0 and mallopt(_M_MMAP_THRESHOLD, mmap_kb * 1024) == 1:
            _applied_mmap_kb = mmap_kb
    # Read by pyarrow when it makes its default pool, at its first use (it loads
    # lazily: collector/lazy_modules.py). A pool the operator chose is kept.
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def memory_figures() -> dict[str, object]:
    """What ``/healthz`` reports: resident memory and the allocator settings in force."""
    rss_kb = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
    except OSError:
        pass
    pyarrow = sys.modules.get("pyarrow")
    pool = getattr(pyarrow, "default_memory_pool", None)
    return {
        "rss_mb": round(rss_kb / 1024, 1),
        "malloc_arena_max": _applied_arenas,
        "malloc_mmap_threshold_kb": _applied_mmap_kb,
        # None until something needs pyarrow: an idle collector has not loaded it.
        "arrow_memory_pool": pool().backend_name if callable(pool) else None,
    }
