"""The ``agent-audit`` command: an explicit table of subcommands, wiring only.

Each subcommand lives in the package that owns it and is imported only when
chosen, so ``agent-audit gateway`` on a bare server needs nothing but the
standard library and ``agent-audit collector`` never imports Streamlit. This
module itself imports the standard library only. Every command module
exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

__all__ = ["COMMANDS", "GROUPS", "Command", "build_parser", "main"]

GROUPS = ("Run", "Inspect", "Operate")


@dataclass(frozen=True)
class Command:
    """One subcommand: where it is listed, what it does, and how to load it."""

    group: str
    summary: str
    example: str
    load: Callable[[], ModuleType]


# The loaders import on demand; each names its module in plain code, not a string.
def _collector() -> ModuleType:
    from collector.cli import serve

    return serve


def _up() -> ModuleType:
    from dashboard import up_cmd

    return up_cmd


def _dashboard() -> ModuleType:
    from dashboard import cli

    return cli


def _agent() -> ModuleType:
    from agent import cli

    return cli


def _demo() -> ModuleType:
    from instrumentation import demo

    return demo


def _runs() -> ModuleType:
    from collector.cli import runs

    return runs


def _show() -> ModuleType:
    from collector.cli import show

    return show


def _sql() -> ModuleType:
    from collector.cli import sql

    return sql


def _verify() -> ModuleType:
    from collector.cli import verify

    return verify


def _rederive() -> ModuleType:
    from collector.cli import rederive

    return rederive


def _export() -> ModuleType:
    from collector.cli import export

    return export


def _backup() -> ModuleType:
    from collector.cli import backup

    return backup


def _cancel() -> ModuleType:
    from collector.cli import cancel

    return cancel


def _gateway() -> ModuleType:
    from ssh_tools import gateway

    return gateway


COMMANDS: dict[str, Command] = {
    "collector": Command(
        "Run", "run the OTLP collector and REST API",
        "agent-audit collector --db audit.duckdb", _collector,
    ),
    "up": Command(
        "Run", "run the collector and the dashboard together",
        "agent-audit up --db audit.duckdb", _up,
    ),
    "dashboard": Command(
        "Run", "run the Streamlit dashboard against a collector",
        "agent-audit dashboard --api http://127.0.0.1:4318", _dashboard,
    ),
    "agent": Command(
        "Run", "run the reference agent service",
        "agent-audit agent --port 8800", _agent,
    ),
    "demo": Command(
        "Run", "send sample agent runs through the instrumentation",
        "agent-audit demo --runs 3", _demo,
    ),
    "runs": Command(
        "Inspect", "list runs (--follow to watch new ones)",
        "agent-audit runs --status failed --since 2h", _runs,
    ),
    "show": Command(
        "Inspect", "show one run with its steps",
        "agent-audit show 3f2a --follow", _show,
    ),
    "sql": Command(
        "Inspect", "run a read-only SQL query through the API",
        "agent-audit sql \"SELECT status, count(*) FROM agent_runs GROUP BY 1\"", _sql,
    ),
    "verify": Command(
        "Inspect", "verify the tamper-evident hash chain",
        "agent-audit verify --db audit.duckdb", _verify,
    ),
    "rederive": Command(
        "Operate", "rebuild runs and steps from the stored spans with the current mapping",
        "agent-audit rederive --db audit.duckdb", _rederive,
    ),
    "export": Command(
        "Operate", "export runs, steps and spans as Parquet",
        "agent-audit export ./audit-export", _export,
    ),
    "backup": Command(
        "Operate", "save a copy of the whole database while it runs",
        "agent-audit backup ./audit-copy.duckdb", _backup,
    ),
    "cancel": Command(
        "Operate", "ask a running agent to stop",
        "agent-audit cancel 3f2a --reason 'wrong host'", _cancel,
    ),
    "gateway": Command(
        "Operate", "SSH forced-command gateway (server side)",
        "agent-audit gateway --policy /etc/agent-audit/policy.json --sudo", _gateway,
    ),
}  # fmt: skip


def _overview() -> str:
    width = max(len(name) for name in COMMANDS) + 2
    lines: list[str] = []
    for group in GROUPS:
        lines.append(f"{group}:")
        for name, command in COMMANDS.items():
            if command.group == group:
                lines.append(f"  {name.ljust(width)}{command.summary}")
                lines.append(f"  {' ' * width}e.g. {command.example}")
        lines.append("")
    lines.append("Run 'agent-audit COMMAND --help' for the options of one command.")
    return "\n".join(lines)


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``chosen`` command's module is imported for its options."""
    parser = argparse.ArgumentParser(
        prog="agent-audit",
        usage="agent-audit COMMAND [options]",
        description="A self-hosted audit trail for AI agents.",
        epilog=_overview(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            prog=f"agent-audit {name}",
            help=command.summary,
            description=f"{command.summary[0].upper()}{command.summary[1:]}.",
            epilog=f"example:\n  {command.example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == chosen:
            module = command.load()
            module.add_arguments(sub)
            sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agent-audit`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(args_list)
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 2
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
