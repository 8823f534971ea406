"""A consistent snapshot of the tables as Parquet files, packed in one tar stream.

The collector owns the DuckDB file, so it takes the snapshot: one read-only
transaction reads ``agent_runs``, ``agent_steps``, ``spans`` and
``cancel_requests`` through Arrow, and pyarrow writes the files. DuckDB itself
never writes a file here (its external access stays disabled), and the client
chooses where the files land, not the server.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from collector.schema import SCHEMA_VERSION
from collector.serialize import iso_utc

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:
    from collector.lazy_modules import pyarrow as pa
    from collector.lazy_modules import pyarrow_parquet as pq

__all__ = ["EXPORT_TABLES", "MANIFEST_NAME", "Snapshot", "take_snapshot", "pack_tar"]

# file stem -> (table, stable order)
EXPORT_TABLES: dict[str, tuple[str, str]] = {
    "runs": ("agent_runs", "started_at NULLS LAST, id"),
    "steps": ("agent_steps", "agent_run_id NULLS LAST, step_number NULLS LAST, id"),
    "spans": ("spans", "trace_id, start_ns, span_id"),
    "cancel_requests": ("cancel_requests", "requested_at, run_id"),
}
MANIFEST_NAME = "manifest.json"
_BATCH_ROWS = 65_536


@dataclass
class Snapshot:
    """Parquet files in a private temporary directory; ``cleanup()`` removes them."""

    directory: Path
    row_counts: dict[str, int]
    taken_at: datetime

    def files(self) -> list[Path]:
        """The manifest first (a reader learns what follows), then the Parquet files."""
        return [self.directory / MANIFEST_NAME] + [
            self.directory / f"{stem}.parquet" for stem in EXPORT_TABLES
        ]

    def cleanup(self) -> None:
        """Delete the temporary directory."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _utc_schema(schema: pa.Schema) -> pa.Schema:
    # The tables hold naive UTC; say so in the files so readers do not guess.
    fields = []
    for f in schema:
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            fields.append(f.with_type(pa.timestamp(f.type.unit, tz="UTC")))
        else:
            fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def _write_table(cursor: duckdb.DuckDBPyConnection, table: str, order: str, path: Path) -> int:
    reader = cursor.sql(f"SELECT * FROM {table} ORDER BY {order}").to_arrow_reader(_BATCH_ROWS)
    schema = _utc_schema(reader.schema)
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch.cast(schema))
            count += batch.num_rows
    return count


def take_snapshot(cursor: duckdb.DuckDBPyConnection, *, taken_at: datetime) -> Snapshot:
    """Write every exported table from one read-only transaction."""
    directory = Path(tempfile.mkdtemp(prefix="agent-audit-export-"))
    counts: dict[str, int] = {}
    try:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            for stem, (table, order) in EXPORT_TABLES.items():
                counts[stem] = _write_table(cursor, table, order, directory / f"{stem}.parquet")
        finally:
            cursor.execute("ROLLBACK")
        manifest = {
            "format": "parquet",
            "schema_version": SCHEMA_VERSION,
            "taken_at": iso_utc(taken_at),
            "tables": {
                stem: {"file": f"{stem}.parquet", "table": table, "rows": counts[stem]}
                for stem, (table, _) in EXPORT_TABLES.items()
            },
            "times": "UTC",
        }
        (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Snapshot(directory=directory, row_counts=counts, taken_at=taken_at)


def pack_tar(snapshot: Snapshot) -> Path:
    """One uncompressed tar of the snapshot (Parquet is compressed already)."""
    import tarfile  # only for an export: an idle collector leaves it out (~0.5 MB)

    path = snapshot.directory / "export.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for file in snapshot.files():
            info = tar.gettarinfo(str(file), arcname=file.name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with file.open("rb") as handle:
                tar.addfile(info, handle)
    return path
