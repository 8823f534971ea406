"""``agent-audit runs``: the run list in the terminal, optionally followed live.

Examples::

    agent-audit runs --status failed --since today      # what failed today, and why
    agent-audit runs --stats --since 7d                 # counts, durations, failing tools
    agent-audit runs --follow                           # new runs and status changes
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from collector.cli.common import EXIT_OK, add_api_argument, call_api, parse_when
from collector.cli.terminal import (
    Style,
    dumps_inert,
    format_duration,
    format_time,
    one_line,
    render_table,
)
from collector.client import ApiError, AuditClient, RunFilters

__all__ = ["add_arguments", "run"]

SHORT_ID = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit runs``."""
    add_api_argument(parser)
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        help="running, completed, failed, max_steps, cancelled, lost (repeat or comma-separate)",
    )
    parser.add_argument("--source", help="exact source, e.g. n8n")
    parser.add_argument("--model", help="model used or requested")
    parser.add_argument("--agent", dest="agent_name", help="agent name")
    parser.add_argument(
        "--since", type=parse_when, help="ISO 8601, today, yesterday, or an age like 2h, 7d"
    )
    parser.add_argument("--until", type=parse_when, help="same forms as --since")
    parser.add_argument("-q", "--search", help="text in the task or final answer, or an id prefix")
    parser.add_argument("--tool", help="runs that called this tool")
    parser.add_argument("--limit", type=int, default=20, help="runs to show (1-1000, default 20)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument("--stats", action="store_true", help="aggregates instead of the list")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new runs and status changes"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls with --follow"
    )


def _moment(text: str | None) -> datetime | None:
    # parse_when has checked the form already; "Z" and offsets are read by fromisoformat.
    return datetime.fromisoformat(text) if text else None


def _filters(args: argparse.Namespace) -> RunFilters:
    statuses = [s.strip() for value in args.status for s in value.split(",") if s.strip()]
    return RunFilters(
        statuses=tuple(statuses),
        source=args.source or None,
        model=args.model or None,
        agent_name=args.agent_name or None,
        since=_moment(args.since),
        until=_moment(args.until),
        text=args.search or None,
        tool=args.tool or None,
    )


def _model(run: dict[str, Any]) -> str:
    return str(run.get("model_used") or run.get("model_requested") or "")


def _duration(run: dict[str, Any]) -> str:
    text = format_duration(run.get("elapsed_ms"))
    return f"{text}…" if text and run.get("status") == "running" else text


def _table_lines(runs: list[dict[str, Any]], style: Style) -> list[str]:
    with_error = any(r.get("error") for r in runs)
    headers = ["STATUS", "RUN", "STARTED (UTC)", "DURATION", "STEPS", "SOURCE", "MODEL", "TASK"]
    widths: list[int | None] = [None, None, None, None, None, 16, 24, 60]
    if with_error:
        headers.append("ERROR")
        widths.append(60)
    rows = []
    for r in runs:
        row = [
            style.badge_text(r.get("status")),
            str(r.get("id") or "")[:SHORT_ID],
            format_time(r.get("started_at")),
            _duration(r) if style.tty else format_duration(r.get("elapsed_ms")),
            str(r.get("step_count") if r.get("step_count") is not None else ""),
            str(r.get("source") or ""),
            _model(r),
            str(r.get("task") or ""),
        ]
        if with_error:
            row.append(str(r.get("error") or ""))
        rows.append(row)
    painters = [lambda raw, padded: style.paint(raw.split()[-1], padded)]
    return render_table(
        headers, rows, painters=painters, max_widths=widths, ascii_only=not style.tty
    )


def _print_page(body: dict[str, Any], style: Style, *, filtered: bool) -> None:
    runs = body.get("runs") or []
    if not runs:
        print("no runs match these filters" if filtered else "no runs recorded yet")
        return
    for line in _table_lines(runs, style):
        print(line)
    total = int(body.get("total") or 0)
    if total > len(runs):
        print(style.dim(f"{len(runs)} of {total} runs (--limit {min(1000, total)} for more)"))


def _print_stats(stats: dict[str, Any]) -> None:
    def pairs(mapping: dict[str, Any]) -> str:
        items = sorted(mapping.items(), key=lambda kv: (-int(kv[1]), kv[0]))
        return ", ".join(f"{one_line(k)} {v}" for k, v in items) or "-"

    duration = stats.get("duration_ms") or {}
    steps = stats.get("steps_per_run") or {}
    tokens = stats.get("tokens") or {}
    print(f"runs        {stats.get('total_runs', 0)}   ({pairs(stats.get('by_status') or {})})")
    print(f"error rate  {100 * float(stats.get('error_rate') or 0):.1f}% of ended runs")
    print(
        f"duration    p50 {format_duration(duration.get('p50')) or '-'}  "
        f"p95 {format_duration(duration.get('p95')) or '-'}  "
        f"max {format_duration(duration.get('max')) or '-'}"
    )
    avg = steps.get("avg")
    print(
        f"steps/run   avg {avg:.1f}  p95 {steps.get('p95') or 0:g}  max {steps.get('max') or 0:g}"
        if avg is not None
        else "steps/run   -"
    )
    print(f"tokens      in {tokens.get('input', 0)}  out {tokens.get('output', 0)}")
    print(f"by source   {pairs(stats.get('by_source') or {})}")
    print(f"by model    {pairs(stats.get('by_model') or {})}")
    tools = stats.get("top_tools") or []
    if tools:
        print()
        rows = [
            [
                str(t.get("tool_name")),
                str(t.get("calls")),
                str(t.get("errors")),
                f"{100 * float(t.get('error_rate') or 0):.1f}%",
                format_duration(t.get("p95_duration_ms")),
            ]
            for t in tools
        ]
        for line in render_table(
            ["TOOL", "CALLS", "ERRORS", "ERROR RATE", "P95"], rows, max_widths=[40] + [None] * 4
        ):
            print(line)


def _event_line(kind: str, run: dict[str, Any], style: Style) -> str:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    badge = one_line(style.badge_text(run.get("status")))
    painted = style.paint(run.get("status"), badge.ljust(12))
    details = []
    if run.get("status") != "running":
        details.append(format_duration(run.get("elapsed_ms")))
    if run.get("step_count") is not None:
        details.append(f"{run.get('step_count')} steps")
    if run.get("error"):
        details.append(one_line(run.get("error"), 80, ascii_only=not style.tty))
    extra = f"  ({', '.join(d for d in details if d)})" if any(details) else ""
    task = one_line(run.get("task") or "", 60, ascii_only=not style.tty)
    short_id = one_line(str(run.get("id"))[:SHORT_ID])  # cut as in the table, then inert
    return f"{stamp} {kind} {painted} {short_id}  {task}{extra}"


def _follow(
    client: AuditClient, args: argparse.Namespace, filters: RunFilters, style: Style
) -> int:
    page_size = max(args.limit, 50)
    first = client.list_runs(filters, limit=args.limit).body
    if args.json:
        for r in reversed(first.get("runs") or []):
            print(dumps_inert({"event": "run", "run": r}, indent=None), flush=True)
    else:
        _print_page(first, style, filtered=not filters.is_empty)
        print(style.dim("following; Ctrl-C to stop"), flush=True)
    known: dict[str, str | None] = {r["id"]: r.get("status") for r in first.get("runs") or []}
    while True:
        time.sleep(args.interval)  # poll interval of a live view, not synchronisation
        page = client.list_runs(filters, limit=page_size)
        seen = {r["id"]: r for r in page.runs}
        # Runs we saw running that fell off the newest page: ask for them one by one.
        for run_id, status in list(known.items()):
            if status == "running" and run_id not in seen:
                try:
                    seen[run_id] = client.get_run(run_id)
                except ApiError:
                    known.pop(run_id)
        for run in sorted(seen.values(), key=lambda r: str(r.get("started_at") or "")):
            run_id, status = run["id"], run.get("status")
            if run_id not in known:
                kind, event = "+", "new"
            elif known[run_id] != status:
                kind, event = "~", "status"
            else:
                continue
            known[run_id] = status
            run.pop("steps", None)
            if args.json:
                print(dumps_inert({"event": event, "run": run}, indent=None), flush=True)
            else:
                print(_event_line(kind, run, style), flush=True)


def run(args: argparse.Namespace) -> int:
    """List (or follow, or summarise) runs; see the module docstring."""
    if not 1 <= args.limit <= 1000:
        print("agent-audit: --limit must be between 1 and 1000", file=sys.stderr)
        return 2
    style = Style()
    filters = _filters(args)

    def action(client: AuditClient) -> int:
        if args.stats:
            stats = client.stats(filters, bucket=None)
            if args.json:
                print(dumps_inert(stats))
            else:
                _print_stats(stats)
            return EXIT_OK
        if args.follow:
            return _follow(client, args, filters, style)
        body = client.list_runs(filters, limit=args.limit).body
        if args.json:
            print(dumps_inert(body))
        else:
            _print_page(body, style, filtered=not filters.is_empty)
        return EXIT_OK

    return call_api(args, action)
