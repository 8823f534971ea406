"""``agent-audit show RUN_ID``: one run and what it did, step by step.

RUN_ID may be a unique prefix of the id (the 8 characters ``agent-audit runs``
prints). Long results are folded; ``--full`` prints them whole. ``--follow``
keeps printing new steps until the run ends.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from collector.cli.common import EXIT_API_ERROR, EXIT_OK, add_api_argument, call_api, error
from collector.cli.terminal import (
    Style,
    dumps_inert,
    format_duration,
    format_time,
    inert,
    one_line,
)
from collector.client import ApiError, AuditClient, Record, RunFilters

__all__ = ["add_arguments", "run", "resolve_run_id"]

FOLD_LINES = 12
FOLD_CHARS = 1500
_FULL_ID_LENGTH = 32  # shorter ids are tried as a prefix too


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit show``."""
    add_api_argument(parser)
    parser.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument("--full", action="store_true", help="do not fold long results")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="print new steps until the run ends"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")


def resolve_run_id(client: AuditClient, given: str) -> list[str]:
    """The full ids ``given`` may stand for: itself if it is a run, else the runs whose id
    starts with it (one for a unique prefix)."""
    try:
        client.get_steps(given, after_step=2**31 - 1)  # existence check that returns no rows
        return [given]
    except ApiError as exc:
        if exc.status_code != 404:
            raise
    if len(given) >= _FULL_ID_LENGTH:
        return []
    page = client.list_runs(RunFilters(text=given), limit=1000)
    return sorted({r["id"] for r in page.runs if str(r["id"]).startswith(given)})


def _fold(text: str, full: bool) -> str:
    if full:
        return text
    lines = text.splitlines()
    cut = "\n".join(lines[:FOLD_LINES])
    if len(cut) > FOLD_CHARS:
        cut = cut[:FOLD_CHARS]
    if cut != text:
        hidden_lines = max(0, len(lines) - len(cut.splitlines()))
        more = f"{len(text) - len(cut)} more characters"
        if hidden_lines:
            more += f", {hidden_lines} more lines"
        cut += f"\n… ({more}; --full shows everything)"
    return cut


def _block(label: str, value: Any, full: bool, indent: str = "    ") -> list[str]:
    if value is None or value == "":
        return []
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    body = inert(_fold(text, full), keep_newlines=True).splitlines() or [""]
    if len(body) == 1 and len(body[0]) < 100:
        return [f"{indent}{label}: {body[0]}"]
    return [f"{indent}{label}:"] + [f"{indent}  {line}" for line in body]


def _call(step: dict[str, Any]) -> str:
    if step.get("action_type") == "tool_call":
        args = step.get("tool_args")
        shown = json.dumps(args, ensure_ascii=False) if args is not None else ""
        return f"{one_line(step.get('tool_name') or '?')}({one_line(shown, 160)})"
    if step.get("model"):
        return one_line(step.get("model"))
    return one_line(step.get("name") or "")


def _command_lines(step: dict[str, Any]) -> list[str]:
    """Which command the step ran on which server, and what came of it."""
    command, decision = step.get("command"), step.get("command_decision")
    if not command and not decision:
        return []
    where = step.get("command_host")
    lines = [f"    $ {one_line(command or '(no command recorded)', 2000)}"]
    outcome = [f"on {one_line(where)}"] if where else []
    if decision:
        outcome.append(one_line(decision).upper() if decision == "refused" else one_line(decision))
    if step.get("command_reason"):
        outcome.append(f"why: {one_line(step.get('command_reason'), 300)}")
    if step.get("command_exit_code") is not None:
        outcome.append(f"exit code {step.get('command_exit_code')}")
    if outcome:
        lines.append("      " + "  |  ".join(outcome))
    return lines


def step_lines(
    step: dict[str, Any], style: Style, full: bool, final_answer: str | None = None
) -> list[str]:
    """The lines printed for one step; a result that is the run's final answer is not
    repeated here (the final answer is printed once, at the end)."""
    status = step.get("status") or ""
    mark = {"ok": "ok", "error": "ERROR", "running": "running…"}.get(status, status)
    if style.color and status == "error":
        mark = f"\x1b[31m{mark}\x1b[0m"
    head = (
        f"Step {step.get('step_number') or '?'}  {one_line(step.get('action_type'))}  "
        f"{_call(step)}  [{mark}"
        + (f", {format_duration(step.get('duration_ms'))}" if step.get("duration_ms") else "")
        + "]"
    )
    lines = [style.bold(head), *_command_lines(step)]
    tokens = (step.get("input_tokens"), step.get("output_tokens"))
    if any(t is not None for t in tokens):
        lines.append(f"    tokens: in {tokens[0] or 0}, out {tokens[1] or 0}")
    lines += _block("thinking", step.get("thinking"), full)
    result = step.get("tool_result")
    if final_answer and result == final_answer:
        lines.append("    result: the final answer, printed below")
    else:
        lines += _block("result", result, full)
    lines += _block("error", step.get("error"), full)
    return lines


def header_lines(run: dict[str, Any], style: Style) -> list[str]:
    """The run's summary lines."""
    status = run.get("status") or "?"
    badge = style.paint(status, style.badge_text(status))
    lines = [style.bold(f"Run {one_line(run.get('id'))}") + f"  {badge}"]
    lines.append(f"  task:      {one_line(run.get('task'))}")
    fields = [
        ("agent", run.get("agent_name")),
        ("source", run.get("source")),
        ("triggered by", run.get("triggered_by")),
        ("model", run.get("model_requested")),
        ("model used", run.get("model_used")),
        ("provider", run.get("provider")),
        ("backend", run.get("backend")),
        ("directory", run.get("working_directory")),
    ]
    shown = [f"{k}: {one_line(v)}" for k, v in fields if v]
    if shown:
        lines.append("  " + "  |  ".join(shown))
    timing = f"  started:   {format_time(run.get('started_at'))} UTC"
    if run.get("completed_at"):
        timing += f"   ended {format_time(run.get('completed_at'))}"
    timing += f"   duration {format_duration(run.get('elapsed_ms')) or '-'}"
    timing += f"   steps {run.get('step_count') or 0}"
    lines.append(timing)
    if run.get("input_tokens") is not None or run.get("output_tokens") is not None:
        lines.append(
            f"  tokens:    in {run.get('input_tokens') or 0}, out {run.get('output_tokens') or 0}"
        )
    if run.get("cancel_requested_at"):
        lines.append(
            f"  cancel requested {format_time(run.get('cancel_requested_at'))} "
            f"by {one_line(run.get('cancel_requested_by') or '?')}"
        )
    if run.get("error"):
        lines += _block("error", run.get("error"), True, indent="  ")
    return lines


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _whole_run(client: AuditClient, run_id: str, *, after_step: int = 0) -> Record:
    """The run with every step: the API's run page holds the first 1,000, ``/steps`` the rest.

    With ``after_step`` (a follow poll) a long run's later steps are read only above it.
    """
    data = client.get_run(run_id)
    if data.get("steps_truncated"):
        steps = list(data.get("steps") or [])
        last = int(steps[-1].get("step_number") or 0) if steps else 0
        steps += client.get_steps(run_id, after_step=max(last, after_step))
        data["steps"] = steps
        data["steps_truncated"] = False
    return data


def _settled(data: Record, printed: set[Any]) -> int:
    """The highest step number up to which every step has been printed."""
    settled = 0
    for step in data.get("steps") or []:
        if step.get("id") not in printed:
            break
        settled = int(step.get("step_number") or 0)
    return settled


def run(args: argparse.Namespace) -> int:
    """Print one run with its steps."""
    style = Style()

    def action(client: AuditClient) -> int:
        matches = resolve_run_id(client, args.run_id)
        if not matches:
            error(f"no run {args.run_id!r} (agent-audit runs lists them)")
            return EXIT_API_ERROR
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            error(f"{args.run_id!r} matches {len(matches)} runs ({shown}); give more characters")
            return EXIT_API_ERROR
        run_id = matches[0]
        data = _whole_run(client, run_id)
        if args.json:
            print(dumps_inert(data))
            return EXIT_OK
        _print(header_lines(data, style))
        steps = data.get("steps") or []
        print()
        if not steps:
            print("  (no steps recorded)")
        answer = data.get("final_answer")
        for step in steps:
            _print(step_lines(step, style, args.full, answer))
        printed = {s.get("id") for s in steps if s.get("status") != "running"}
        # Results printed in full while the run was still going (no final answer yet).
        shown_results = (
            {s.get("tool_result"): s.get("step_number") for s in steps} if not answer else {}
        )
        while args.follow and data.get("status") == "running":
            time.sleep(args.interval)  # poll interval of a live view
            data = _whole_run(client, run_id, after_step=_settled(data, printed))
            for step in data.get("steps") or []:
                if step.get("status") != "running" and step.get("id") not in printed:
                    printed.add(step.get("id"))
                    answer = data.get("final_answer")
                    _print(step_lines(step, style, args.full, answer))
                    if not answer:
                        shown_results[step.get("tool_result")] = step.get("step_number")
        answer = data.get("final_answer")
        if answer or data.get("status") != "running":
            print()
            if answer and answer in shown_results:
                print(f"Final answer: the result of step {shown_results[answer]} above")
            else:
                _print(_block("Final answer", answer, args.full, indent=""))
            if args.follow:
                print(f"run ended: {data.get('status')}")
        return EXIT_OK

    return call_api(args, action)
