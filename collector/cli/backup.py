"""``agent-audit backup FILE``: a copy of the whole database, taken while the collector runs.

The collector copies every table from one read transaction into a new DuckDB
file and streams it; this command saves it as FILE (written beside it first,
then renamed, so FILE is never half written). Start a collector on the copy
with ``agent-audit collector --db FILE``; check it with ``agent-audit verify --db FILE``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import duckdb

from collector.cli.common import EXIT_API_ERROR, EXIT_OK, add_api_argument, call_api, error
from collector.cli.progress import Progress, add_progress_argument, receive
from collector.client import AuditClient
from collector.commit_mark import mark_path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit backup``."""
    add_api_argument(parser)
    parser.add_argument("file", metavar="FILE", help="where to write the DuckDB file")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_progress_argument(parser)


def _summary(path: Path) -> str:
    """Runs and spans in the saved copy, read back: the file opens and holds data."""
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM agent_runs), (SELECT count(*) FROM spans)"
        ).fetchone()
    runs, spans = row if row else (0, 0)
    return f"{runs} runs, {spans} spans"


def run(args: argparse.Namespace) -> int:
    """Download the copy into FILE."""
    target = Path(args.file)
    if target.exists() and not args.force:
        error(f"{target} exists; choose another name or pass --force")
        return EXIT_API_ERROR
    if not target.parent.is_dir():
        error(f"{target.parent} is not a directory")
        return EXIT_API_ERROR

    progress = Progress("backup", forced=args.progress)

    def action(client: AuditClient) -> int:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial", dir=target.parent
        )
        partial = Path(name)
        try:
            with os.fdopen(handle, "wb") as out, client.stream_backup() as response:
                head_line = response.headers.get("x-agent-audit-head")
                receive(response, out, progress)
            try:
                summary = _summary(partial)
            except duckdb.Error as exc:
                error(f"the backup is not a readable DuckDB file: {exc}")
                return EXIT_API_ERROR
            os.replace(partial, target)
            if head_line:
                # The copy's keyed chain head: it starts and verifies like the original.
                mark_path(target).write_text(head_line.strip() + "\n")
        finally:
            partial.unlink(missing_ok=True)
        print(f"backup saved: {target} ({summary}); check it with agent-audit verify --db {target}")
        return EXIT_OK

    return call_api(args, action)
