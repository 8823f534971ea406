"""``agent-audit sql "SELECT ..."``: one read-only query through the collector's API.

Examples::

    agent-audit sql "SELECT tool_name, count(*) FILTER (WHERE status = 'error') AS errors,
                     count(*) AS calls FROM agent_steps GROUP BY 1 ORDER BY errors DESC"
    agent-audit sql "SELECT * FROM agent_runs WHERE status = 'failed'" --format csv > failed.csv
    echo "SHOW TABLES" | agent-audit sql -
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from collector.cli.common import EXIT_OK, add_api_argument, call_api
from collector.cli.terminal import Style, dumps_inert, inert, render_table
from collector.client import AuditClient, SqlResult
from collector.csv_cells import spreadsheet_text

__all__ = ["add_arguments", "run"]

_TABLE_CELL_WIDTH = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit sql``."""
    add_api_argument(parser)
    parser.add_argument("query", metavar="SQL", help="one read-only statement, or - for stdin")
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    parser.add_argument("--max-rows", type=int, help="row cap (the server's cap still applies)")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _print_table(result: SqlResult, style: Style) -> None:
    columns = result.columns
    rows = [[_cell(v) for v in row] for row in result.rows]
    if not columns:
        print("(no columns)")
        return
    for line in render_table(
        columns,
        rows,
        max_widths=[_TABLE_CELL_WIDTH] * len(columns),
        ascii_only=not style.tty,
    ):
        print(line)
    count = result.row_count
    note = f"({count} row{'s' if count != 1 else ''}"
    if result.truncated:
        note += ", truncated at the row cap"
    elapsed = result.elapsed_ms
    note += f", {float(elapsed):.0f} ms)" if elapsed is not None else ")"
    print(style.dim(note))


def _csv_cell(value: Any) -> str:
    # Inert for a terminal showing the CSV, and never a formula in a spreadsheet.
    return "" if value is None else spreadsheet_text(inert(_cell(value), keep_newlines=True))


def _print_csv(result: SqlResult) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([spreadsheet_text(inert(c)) for c in result.columns])
    for row in result.rows:
        writer.writerow([_csv_cell(v) for v in row])


def _print_json(result: SqlResult) -> None:
    records = [dict(zip(result.columns, row, strict=False)) for row in result.rows]
    print(dumps_inert(records))


def run(args: argparse.Namespace) -> int:
    """Send the query; print the rows in the chosen format."""
    query = sys.stdin.read() if args.query == "-" else args.query
    style = Style()

    def action(client: AuditClient) -> int:
        result = client.sql(query, max_rows=args.max_rows)
        if args.format == "csv":
            _print_csv(result)
        elif args.format == "json":
            _print_json(result)
        else:
            _print_table(result, style)
        if result.truncated and args.format != "table":
            print(
                f"agent-audit: output truncated at {result.row_count} rows (the row cap)",
                file=sys.stderr,
            )
        return EXIT_OK

    return call_api(args, action)
