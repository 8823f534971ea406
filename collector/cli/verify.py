"""``agent-audit verify``: walk the hash chain and name the first altered or missing row."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

from collector.chain_key import ChainKey, ChainKeyError, default_key_path, load_key
from collector.cli.common import open_client
from collector.cli.terminal import inert
from collector.client import ClientError
from collector.commit_mark import mark_path
from collector.verify import acknowledge_head, verify_file
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
    parser.add_argument(
        "--key",
        type=Path,
        help="the chain key file (default $AGENT_AUDIT_CHAIN_KEY, else <db>.key)",
    )
    parser.add_argument(
        "--acknowledge-head",
        action="store_true",
        help="after the chain verifies, record the file's current head in <db>.head so "
        "the collector starts again (after a head was lost, rewritten or got ahead)",
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
    key_path = args.key or Path(E.CHAIN_KEY.read() or default_key_path(path))
    try:
        key = load_key(key_path, create=False) if key_path.exists() or args.key else None
    except ChainKeyError as exc:
        print(f"agent-audit verify: {exc}", file=sys.stderr)
        return 2
    try:
        result = verify_file(path, derived=not args.spans_only, key=key)
    except duckdb.IOException as exc:
        print(
            f"agent-audit verify: cannot open the file ({exc}); if the collector is running, "
            f"use --api {E.api_url()}",
            file=sys.stderr,
        )
        return 2
    if args.acknowledge_head:
        return _acknowledge(path, key, result)
    return _report(args, result)


def _acknowledge(path: Path, key: ChainKey | None, result: dict[str, Any]) -> int:
    problem = result.get("problem") or {}
    if key is None:
        print("agent-audit verify: --acknowledge-head needs the chain key (--key)", file=sys.stderr)
        return 2
    if not result["ok"] and problem.get("kind") != "head":
        print(f"TAMPERED: {inert(problem.get('message'))}")
        print("not acknowledging: the chain itself does not verify", file=sys.stderr)
        return 1
    if result.get("head_problem"):
        print(f"head was: {inert(result['head_problem'])}")
    seq, digest = acknowledge_head(path, key)
    print(
        f"acknowledged: {mark_path(path)} now records chain row {seq} (hash {digest[:16]}…) "
        "and the record chain's last row"
    )
    return 0


def _report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["ok"]:
        head = result["head"]
        first = result["anchor_seq"] + 1
        print(f"OK: {result['checked_spans']} span(s) verified from chain row {first}")
        if result.get("checked_records"):
            print(
                f"OK: {result['checked_records']} cancel request and retention record(s) "
                "verified, and the tables match them"
            )
        if result.get("derived_checked"):
            print("OK: every run and step matches what the stored spans give")
        if head:
            print(f"head: row {head['seq']} sha256 {head['hash']}")
        if result.get("record_head"):
            records = result["record_head"]
            print(f"record chain head: row {records['seq']} hash {records['hash']}")
        if head or result.get("record_head"):
            print("(keep the head hashes elsewhere: they pin today's state)")
        if result.get("head_problem"):
            print(f"warning: {inert(result['head_problem'])}")
        if not result.get("keyed"):
            print("note: no chain key given; keyed rows and the head's HMAC were not checked")
    else:
        problem = result["problem"]
        # The message and ids name stored rows, whose ids a sender chose.
        print(f"TAMPERED: {inert(problem['message'])}")
        where = [
            f"{name} {inert(problem[field])}"
            for name, field in (("chain row", "seq"), ("trace", "trace_id"), ("span", "span_id"))
            if problem.get(field)
        ]
        if where:
            print("  where: " + ", ".join(where))
        print(f"  what: {inert(_EXPLAIN.get(problem['kind'], problem['kind']))}")
    return 0 if result["ok"] else 1


# What each kind of finding means, for the person reading the report.
_EXPLAIN = {
    "altered": "a stored span's content differs from when it was chained",
    "missing": "a chained span was deleted from the spans table",
    "chain_missing": "a link of the chain itself was deleted",
    "chain_altered": "a link of the chain points at a different span than it did",
    "unchained": "a span was inserted without going through the collector",
    "derived_altered": "a run or step row differs from what its spans give",
    "derived_missing": "a run or step row was deleted",
    "derived_added": "a run or step row was inserted that no span gives",
    "no_key": "the chain is keyed and no key was given: nothing after the keyed row was checked",
    "wrong_key": "the key given is not the one this database was chained with",
    "head": "the .head record is missing or rewritten, or a chain ends before the tip it pins "
    "(the newest spans, cancel request or retention pass deleted, or commits lost)",
    "record_altered": "a cancel request or retention log row differs from when it was chained",
    "record_removed": "a chained cancel request or retention log row was deleted",
    "record_added": "a cancel request or retention log row was inserted outside the collector",
    "record_chain_missing": "a link of the record chain was deleted",
    "record_chain_altered": "a link of the record chain was edited",
}
