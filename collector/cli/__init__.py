"""The ``agent-audit`` command: wiring only.

Each subcommand lives in the package that owns it and is imported only when
chosen, so ``agent-audit gateway`` on a bare server needs nothing but the
standard library and ``agent-audit collector`` never imports Streamlit.
Every module named here exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "SUBCOMMANDS"]

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "collector": ("collector.serve_cmd", "run the OTLP collector and REST API"),
    "up": ("dashboard.up_cmd", "run the collector and the dashboard together"),
    "dashboard": ("dashboard.cli", "run the Streamlit dashboard"),
    "demo": ("instrumentation.demo", "send sample agent runs through the instrumentation"),
    "runs": ("collector.cli_runs", "list runs (--follow to watch)"),
    "show": ("collector.cli_show", "show one run with its steps"),
    "sql": ("collector.cli_sql", "run a read-only SQL query through the API"),
    "export": ("collector.cli_export", "export runs, steps and spans as Parquet"),
    "backup": ("collector.cli_backup", "save a copy of the whole database while it runs"),
    "cancel": ("collector.cli_cancel", "ask a running agent to stop"),
    "verify": ("collector.cli_verify", "verify the tamper-evident hash chain"),
    "agent": ("agent.cli", "run the reference agent service"),
    "gateway": ("ssh_tools.gateway", "SSH forced-command gateway (server side)"),
}


def _build_parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-audit", description="A self-hosted audit trail for AI agents."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agent-audit`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = _build_parser(chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(args_list)
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 2
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
