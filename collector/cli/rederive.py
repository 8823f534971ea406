"""``agent-audit rederive``: rebuild runs and steps from the stored spans with the current
mapping (after an upgrade that fixes how a framework's spans are read)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from instrumentation import env as E

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, help="DuckDB file (the collector must be stopped); $AGENT_AUDIT_DB"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from collector.rederive import rederive_file

    path = args.db or Path(E.DB.read())
    if not path.exists():
        print(f"agent-audit rederive: {path} does not exist", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"replayed {done}/{total} spans", file=sys.stderr, flush=True)

    try:
        result = rederive_file(path, progress)
    except duckdb.IOException as exc:
        print(
            f"agent-audit rederive: cannot open the file ({exc}); stop the collector first",
            file=sys.stderr,
        )
        return 2
    print(
        f"{result.spans} spans replayed: runs {result.runs_before} -> {result.runs_after}, "
        f"steps {result.steps_before} -> {result.steps_after}"
    )
    return 0
