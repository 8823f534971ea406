"""A real collector whose DuckDB writer is held busy: acknowledged requests stay in the journal.

    python -m tests.reliability.held_writer_collector --db FILE

Starts the collector in this process (defaults otherwise), then gives the
writer thread a job that does not return until the process ends, as a disk
stalled for minutes would. Receivers keep answering from the request journal.
Prints the same ready line as ``agent-audit collector``; the test kill -9s it.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import replace
from pathlib import Path

import duckdb

from collector.server import start_collector
from collector.settings import Settings
from instrumentation.security import host_port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    settings = replace(Settings.from_env(), db_path=args.db, grpc_port=0, http_port=0)
    collector = start_collector(settings)
    held = threading.Event()
    never = threading.Event()

    def hold(_con: duckdb.DuckDBPyConnection) -> None:
        held.set()
        never.wait()

    threading.Thread(target=collector.store.write, args=(hold,), daemon=True).start()
    held.wait()
    host = settings.host
    print(
        f"agent-audit collector ready grpc={host_port(host, collector.grpc_port)} "
        f"http={host_port(host, collector.http_port)} (writer held)",
        flush=True,
    )
    never.wait()


if __name__ == "__main__":
    main()
