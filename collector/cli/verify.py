"""``agent-audit verify``: walk the hash chain and name the first altered or missing row."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

from collector.cli.common import open_client
from collector.client import ClientError
from collector.verify import verify_file
from instrumentation import env as E

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, help="DuckDB file, read directly (the collector must be stopped)"
    )
    parser.add_argument(
        "--api",
        metavar="URL",
        help="ask a running collector instead (default when $AGENT_AUDIT_API is set "
        "and --db is not given)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--spans-only",
        action="store_true",
        help="check the span chain only, not the runs and steps derived from it (faster)",
    )


def run(args: argparse.Namespace) -> int:
    api = args.api or (None if args.db else E.API.read())
    if api:
        # Exit 1 means "tampered" here, so every failure to ask is 2.
        try:
            with open_client(api) as client:
                return _report(args, client.verify(derived=not args.spans_only))
        except ClientError as exc:
            print(f"agent-audit verify: {exc}", file=sys.stderr)
            return 2
    path = args.db or Path(E.DB.read())
    if not path.exists():
        print(f"agent-audit verify: {path} does not exist", file=sys.stderr)
        return 2
    try:
        result = verify_file(path, derived=not args.spans_only)
    except duckdb.IOException as exc:
        print(
            f"agent-audit verify: cannot open the file ({exc}); if the collector is running, "
            f"use --api {E.api_url()}",
            file=sys.stderr,
        )
        return 2
    return _report(args, result)


def _report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["ok"]:
        head = result["head"]
        first = result["anchor_seq"] + 1
        print(f"OK: {result['checked_spans']} span(s) verified from chain row {first}")
        if result.get("derived_checked"):
            print("OK: every run and step matches what the stored spans give")
        if head:
            print(f"head: row {head['seq']} sha256 {head['hash']}")
            print("(keep the head hash elsewhere: it pins today's state)")
    else:
        print(f"TAMPERED: {result['problem']['message']}")
    return 0 if result["ok"] else 1
