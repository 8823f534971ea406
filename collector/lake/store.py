"""The collector's store in scale-out mode: local durability, lake visibility.

Writes are exactly the single-node store's (RunStore): a request is
acknowledged after the commit to this collector's own DuckDB file. A shipper
thread copies those commits into the shared DuckLake every ``ship_interval_s``;
reads (REST API, dashboard, /sql) go to the lake, so every collector answers
for all runs. The local file stays readable through ``read_local`` (verify,
backups).

Why not write the lake directly: a lake commit took 40-250 ms at the median and
seconds at the tail here, against a few ms locally, and an acknowledgement must
wait for its commit (bench/lake_probe.py, README "Scaling out").
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from collector.lake.connect import LAKE_ALIAS, LakeError, attach_lake, lake_connection
from collector.lake.layout import collector_schema
from collector.lake.maintenance import MaintenanceLease, MaintenanceReport, maintain_shared
from collector.lake.reader import LakeReader
from collector.lake.shipper import Shipper
from collector.store import RunStore, StoreOpenError

__all__ = ["LakeStore", "LakeOptions", "local_collector_id"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class LakeOptions:
    """Where the lake is and how often to ship and compact."""

    def __init__(
        self,
        *,
        catalog_dsn: str,
        data_path: str,
        collector_id: str | None = None,
        ship_interval_s: float = 0.5,
        ship_max_spans: int = 20_000,
        compact_every_s: float = 300.0,
        inline_row_limit: int = 0,
        keep_snapshots_s: float = 3600.0,
    ) -> None:
        self.catalog_dsn = catalog_dsn
        self.data_path = data_path
        self.collector_id = collector_id
        self.ship_interval_s = ship_interval_s
        self.ship_max_spans = ship_max_spans
        self.compact_every_s = compact_every_s
        self.inline_row_limit = inline_row_limit
        self.keep_snapshots_s = keep_snapshots_s


def local_collector_id(store: RunStore, wanted: str | None) -> str:
    """The id this local file ships under: kept in the file, so it follows the file.

    A new file gets ``wanted`` or a random id; a file that has one keeps it, and
    asking for another is refused (its spans are already in the lake under the
    first).
    """

    def read_or_set(con: duckdb.DuckDBPyConnection) -> str:
        con.execute("CREATE TABLE IF NOT EXISTS lake_identity (collector_id VARCHAR NOT NULL)")
        row = con.execute("SELECT collector_id FROM lake_identity").fetchone()
        if row:
            return str(row[0])
        new = wanted or uuid.uuid4().hex[:12]
        collector_schema(new)  # validates
        con.execute("INSERT INTO lake_identity VALUES (?)", [new])
        return new

    found = store.write(read_or_set)
    if wanted and found != wanted:
        raise ValueError(
            f"this collector's file ships to the lake as {found!r}; "
            f"AGENT_AUDIT_COLLECTOR_ID={wanted!r} would ship its spans a second time"
        )
    return found


class LakeStore(RunStore):
    """RunStore whose reads come from the shared lake, fed by a shipper thread."""

    def __init__(self, db_path: Path, lake: LakeOptions, **store_options: Any) -> None:
        super().__init__(db_path, **store_options)
        try:
            self.collector_id = local_collector_id(self, lake.collector_id)
            self._lake_writer = lake_connection()
            attach_lake(self._lake_writer, lake.catalog_dsn, lake.data_path)
            # Shipping is background work: one thread keeps it off the cores the
            # receive path needs, and its CPU on the shipping thread (healthz).
            self._lake_writer.execute("SET threads = 1")
            self._lake_writer.execute(
                "CALL lake.set_option('data_inlining_row_limit', ?)", [lake.inline_row_limit]
            )
            self.shipper = Shipper(
                local_read=super().read,
                lake=self._lake_writer,
                alias=LAKE_ALIAS,
                schema=collector_schema(self.collector_id),
                max_spans=lake.ship_max_spans,
                interval_s=lake.ship_interval_s,
                compact_every_s=lake.compact_every_s,
            )
            self.reader = LakeReader(
                lake.catalog_dsn,
                lake.data_path,
                memory_limit_mb=int(store_options.get("memory_limit_mb", 256)),
                spill_dir=db_path.with_name(db_path.name + ".lake-spill"),
            )
        except (LakeError, ValueError, duckdb.Error) as exc:
            super().close()
            raise StoreOpenError(f"cannot use the lake: {exc}") from None
        except BaseException:
            super().close()
            raise
        self._options = lake
        self._lease = MaintenanceLease(lake.catalog_dsn)
        self.last_maintenance: MaintenanceReport | None = None
        self._stop_maintenance = threading.Event()
        self.shipper.start()
        self._maintainer = threading.Thread(
            target=self._maintain, name="lake-maintenance", daemon=True
        )
        self._maintainer.start()

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Read over every collector's rows in the lake."""
        return self.reader.read(fn)

    def lake_status(self) -> dict[str, Any]:
        """For /healthz: how far shipping is behind, and the last problems."""
        shipper = self.shipper
        committed = self._state.chain_head.seq
        age = None
        if shipper.last_shipped_at is not None:
            age = round(time.monotonic() - shipper.last_shipped_at, 3)
        return {
            "collector_id": self.collector_id,
            "collectors_in_lake": len(self.reader.schemas),
            "shipped_seq": shipper.mark_seq,
            "unshipped_spans": max(0, committed - shipper.mark_seq),
            "seconds_since_last_shipment": age,
            "ship_failures": shipper.failures,
            "shipped_spans": shipper.shipped_spans,
            "lake_commits": shipper.passes,
            "lake_commit_s": round(shipper.lake_write_s, 3),
            "shipper_cpu_s": round(shipper.cpu_s, 3),
            "lake_reads": self.reader.reads,
            "lake_read_cpu_s": round(self.reader.read_cpu_s, 3),
            "last_ship_error": shipper.last_error,
            "maintenance_errors": (self.last_maintenance.errors if self.last_maintenance else []),
        }

    def close(self, timeout_s: float = 30.0) -> None:
        """Ship what is committed, then close the local file and the lake."""
        self._stop_maintenance.set()
        self.shipper.stop(timeout_s)
        super().close(timeout_s)
        self._maintainer.join(timeout_s)
        self._lease.release()
        self.reader.close()
        self._lake_writer.close()

    def _maintain(self) -> None:
        lake = self._lake_writer.cursor()  # its own connection to the same instance
        every_s = self._options.compact_every_s
        while not self._stop_maintenance.wait(every_s):
            try:
                if not self._lease.try_acquire():
                    continue
                self.last_maintenance = maintain_shared(
                    lake,
                    LAKE_ALIAS,
                    keep_snapshots=timedelta(seconds=self._options.keep_snapshots_s),
                )
                if self.last_maintenance.errors:
                    logger.info("lake maintenance: %s", "; ".join(self.last_maintenance.errors))
            except Exception:  # noqa: BLE001 - thread boundary; the next pass tries again
                logger.exception("lake maintenance failed")
        lake.close()
