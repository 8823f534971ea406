"""Keep the ``/sql`` worker's copy across collector restarts.

The worker's DuckDB file lives in a directory of its own, named after the
collector's database (``copy-<hash>`` in the ``/sql`` folder, mode 0700, see
:mod:`collector.sql_workspace`), so a restarted collector can hand it to its
new worker instead of copying every row again. At a clean stop the collector
writes, beside it, what the copy holds: the last chain link copied (its
sequence number and keyed hash), the span count, and the row hashes of the
runs and steps. At the next start that state is read once and removed (a
crash later cannot reuse it), and it is trusted only if

- the worker's file carries the same copy id (every sync removes the id in
  its first commit and writes a new one in its last, so a sync cut short
  leaves none), and
- the collector's hash chain still has that hash at that sequence number (the
  spans copied are the spans stored).

Then only what changed since is sent; otherwise the copy is built whole.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.ipc as ipc
else:
    from collector.lazy_modules import pyarrow as pa
    from collector.lazy_modules import pyarrow_ipc as ipc

__all__ = ["SavedCopy", "CopyState"]

logger = logging.getLogger(__name__)

_STATE = "copy-state.json"


@dataclass(frozen=True)
class CopyState:
    """What a saved copy holds."""

    copy_id: str
    spans_seq: int
    spans_count: int
    chain_hash: str  # hex of the span_chain hash at spans_seq ("" when no link)
    row_hashes: dict[str, pa.Table]


class SavedCopy:
    """The state file beside the worker's copy: written at stop, taken at start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)

    def save(self, state: CopyState) -> None:
        for table, hashes in state.row_hashes.items():
            with ipc.new_file(str(self.directory / f"{table}.hashes.arrow"), hashes.schema) as out:
                out.write_table(hashes)
        body = {
            "copy_id": state.copy_id,
            "spans_seq": state.spans_seq,
            "spans_count": state.spans_count,
            "chain_hash": state.chain_hash,
            "tables": sorted(state.row_hashes),
        }
        partial = self.directory / (_STATE + ".partial")
        partial.write_text(json.dumps(body))
        partial.replace(self.directory / _STATE)

    def take(self) -> CopyState | None:
        """The saved state, removed from disk; None when there is none or it is unreadable."""
        path = self.directory / _STATE
        if not path.exists():
            return None
        try:
            body = json.loads(path.read_text())
            path.unlink()
            hashes = {}
            for table in body["tables"]:
                with ipc.open_file(str(self.directory / f"{table}.hashes.arrow")) as source:
                    hashes[str(table)] = source.read_all()
            return CopyState(
                copy_id=str(body["copy_id"]),
                spans_seq=int(body["spans_seq"]),
                spans_count=int(body["spans_count"]),
                chain_hash=str(body["chain_hash"]),
                row_hashes=hashes,
            )
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            logger.warning("the saved /sql copy state cannot be read (%s); copying anew", exc)
            return None


def chain_hash_at(cur: duckdb.DuckDBPyConnection, seq: int) -> str:
    """Hex of the chain link ``seq`` ("" when there is none)."""
    row = cur.execute("SELECT hash FROM span_chain WHERE seq = ?", [seq]).fetchone()
    return bytes(row[0]).hex() if row and row[0] is not None else ""
