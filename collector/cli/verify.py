"""``agent-audit verify``: walk the hash chain and name the first altered or missing row."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx

from collector.chain import VerifyReport, verify_chain
from collector.verify_derived import verify_derived

__all__ = ["add_arguments", "run", "report_dict"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, help="DuckDB file, read directly (the collector must be stopped)"
    )
    parser.add_argument(
        "--api", help="ask a running collector instead (e.g. http://127.0.0.1:4318)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--spans-only",
        action="store_true",
        help="check the span chain only, not the runs and steps derived from it (faster)",
    )


def report_dict(report: VerifyReport, head: tuple[int, str] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data (the /verify route answers the same)."""
    problem = report.problem
    return {
        "ok": report.ok,
        "checked_spans": report.checked,
        "anchor_seq": report.anchor_seq,
        "head": {"seq": head[0], "hash": head[1]} if head else None,
        "problem": None
        if problem is None
        else {
            "kind": problem.kind,
            "seq": problem.seq,
            "trace_id": problem.trace_id,
            "span_id": problem.span_id,
            "message": problem.message,
        },
    }


def verify_connection(con: duckdb.DuckDBPyConnection, *, derived: bool = True) -> dict[str, Any]:
    """Walk the span chain, then compare runs and steps with what the spans give."""
    report = verify_chain(con)
    if report.ok and derived:
        problem = verify_derived(con)
        if problem is not None:
            report = VerifyReport(report.checked, report.anchor_seq, problem)
    row = con.execute("SELECT seq, hash FROM span_chain ORDER BY seq DESC LIMIT 1").fetchone()
    result = report_dict(report, (int(row[0]), bytes(row[1]).hex()) if row else None)
    result["derived_checked"] = derived
    return result


def verify_file(path: Path, *, derived: bool = True) -> dict[str, Any]:
    """Verify a DuckDB file opened read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return verify_connection(con, derived=derived)


def run(args: argparse.Namespace) -> int:
    try:
        if args.api:
            headers = {}
            token = os.environ.get("AGENT_AUDIT_TOKEN")
            if token:
                headers["authorization"] = f"Bearer {token}"
            response = httpx.get(
                args.api.rstrip("/") + "/verify",
                params={"derived": str(not args.spans_only).lower()},
                headers=headers,
                timeout=600,
            )
            response.raise_for_status()
            result = response.json()
        else:
            path = args.db or Path(os.environ.get("AGENT_AUDIT_DB") or "agent_audit.duckdb")
            if not path.exists():
                print(f"agent-audit verify: {path} does not exist", file=sys.stderr)
                return 2
            result = verify_file(path, derived=not args.spans_only)
    except duckdb.IOException as exc:
        print(
            f"agent-audit verify: cannot open the file ({exc}); if the collector is running, "
            "use --api http://127.0.0.1:4318",
            file=sys.stderr,
        )
        return 2
    except httpx.HTTPError as exc:
        print(f"agent-audit verify: {exc}", file=sys.stderr)
        return 2
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
