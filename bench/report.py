"""The issue-17 table (targets, this tree, a baseline, the peer, met or not) and the older table.

    python -m bench.report run --out /tmp/bench-run [--baseline-repo /tmp/base]
        [--query-db /tmp/bench-query/1m.duckdb] [--phoenix] [--quick]
    python -m bench.report /tmp/bench-run        # print the tables of an earlier run

``run`` executes every benchmark (see :mod:`bench.suite`), then prints the tables.

Expects the names the README's commands write (``--json DIR/NAME.json``): grpc50, http50,
http50gz, grpc1, http1 (bench.load), phoenix (bench.phoenix), query (bench.query time), and
readers.log (bench.query readers). Missing files leave their rows out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.suite import SuiteOptions, add_suite_arguments, run_suite

__all__ = ["issue_table", "main", "results_table"]


def _load(directory: Path, name: str) -> dict[str, Any] | None:
    path = directory / name
    if not path.exists():
        return None
    text = path.read_text()
    start = text.rfind("\n{")  # readers.log ends with the summary object
    try:
        return json.loads(text if name.endswith(".json") else text[start + 1 :])  # type: ignore[no-any-return]
    except ValueError:
        return None


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = round(value, 1) if value < 100 else round(value)
    return f"{value:,}{unit}" if isinstance(value, int | float) else str(value)


def _ratio(ours: Any, theirs: Any, higher_is_better: bool) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float):
        return "–"
    if not ours or not theirs:
        return "–"
    return f"{(ours / theirs if higher_is_better else theirs / ours):.1f}x"


def results_table(directory: Path) -> str:
    """The markdown table: target, measured, Phoenix, ratio, command."""
    g50, h50 = _load(directory, "grpc50.json"), _load(directory, "http50.json")
    h50gz, g1, h1 = (
        _load(directory, "http50gz.json"),
        _load(directory, "grpc1.json"),
        _load(directory, "http1.json"),
    )
    side = _load(directory, "phoenix.json") or {}
    ph, aa = side.get("phoenix") or {}, side.get("agent_audit") or {}
    readers = _load(directory, "readers.log")
    query = _load(directory, "query.json")
    rows: list[tuple[str, str, str, str, str]] = []
    load = "python -m bench.load --spawn --runs 20000 --clients 4"
    if g50:
        rows.append(
            (
                "e2e durable ingest, gRPC, 50 runs/request, 4 clients: >= 15,000 spans/s",
                _fmt(g50["e2e_spans_per_s"]),
                "",
                "",
                f"`{load} --protocol grpc`",
            )
        )
    if h50 and g50:
        gap = 1 - h50["e2e_spans_per_s"] / g50["e2e_spans_per_s"]
        rows.append(
            (
                "OTLP/HTTP within 20% of gRPC",
                f"{_fmt(h50['e2e_spans_per_s'])} ({-gap:+.0%} vs gRPC)",
                "",
                "",
                f"`{load} --protocol http`",
            )
        )
    if h50gz:
        rows.append(
            (
                "(OTLP/HTTP + gzip)",
                _fmt(h50gz["e2e_spans_per_s"]),
                "",
                "",
                f"`{load} --protocol http --gzip`",
            )
        )
    if g1:
        rows.append(
            (
                "e2e, 1 run/request: >= 5,000 spans/s (gRPC)",
                _fmt(g1["e2e_spans_per_s"]),
                "",
                "",
                "`python -m bench.load --spawn --runs 4000 --runs-per-request 1 --clients 4`",
            )
        )
    if h1:
        rows.append(
            (
                "(1 run/request, OTLP/HTTP)",
                _fmt(h1["e2e_spans_per_s"]),
                "",
                "",
                "`... --runs-per-request 1 --protocol http`",
            )
        )
    if g50:
        rows.append(
            (
                "p99 ack -> visible in the API: < 1 s",
                _fmt(g50["ack_to_visible_ms_p99"], " ms"),
                _fmt(ph.get("last_ack_to_all_visible_s"), " s*"),
                "",
                f"`{load}`",
            )
        )
        for label, key, unit in (
            ("idle RSS: <= 110 MB", "idle_rss_mb", " MB"),
            ("peak RSS under the load: <= 300 MB", "peak_rss_mb_vmhwm", " MB"),
            ("database bytes per span: <= 1,500", "db_bytes_per_span", ""),
        ):
            # Phoenix is compared on the side-by-side load, with our figure from that run.
            theirs = f"{_fmt(ph.get(key), unit)} (ours there: {_fmt(aa.get(key), unit)})"
            rows.append(
                (
                    label,
                    _fmt(g50[key], unit),
                    theirs if ph else "",
                    _ratio(aa.get(key), ph.get(key), False),
                    f"`{load}`",
                )
            )
    if ph:
        rows.append(
            (
                "side by side, same load (OTLP/HTTP, 2,000 runs = 18,000 spans): e2e spans/s",
                _fmt(aa.get("e2e_spans_per_s")),
                _fmt(ph.get("e2e_spans_per_s")),
                _ratio(aa.get("e2e_spans_per_s"), ph.get("e2e_spans_per_s"), True),
                "`python -m bench.phoenix --runs 2000 --protocol http --clients 4`",
            )
        )
        rows.append(
            (
                "(side by side) collector CPU µs/span",
                _fmt(aa.get("collector_cpu_us_per_span")),
                _fmt(ph.get("collector_cpu_us_per_span")),
                _ratio(
                    aa.get("collector_cpu_us_per_span"), ph.get("collector_cpu_us_per_span"), False
                ),
                "same",
            )
        )
    if readers:
        rows.append(
            (
                "dashboard-like readers (3, every second) cost: <= 20% of ingest",
                f"{readers['cost']:.1%} ({_fmt(readers['without_readers_e2e_spans_per_s'])} -> "
                f"{_fmt(readers['with_readers_e2e_spans_per_s'])})",
                "",
                "",
                "`python -m bench.query readers --readers 3 --runs 10000`",
            )
        )
    if query:
        for case in query["cases"]:
            rows.append(
                (
                    f"1M runs: {case['case']}",
                    f"p50 {_fmt(case.get('p50_ms'))} / p95 {_fmt(case.get('p95_ms'))} ms",
                    "",
                    "",
                    "`python -m bench.query time --db /tmp/bench-query/1m.duckdb --repeat 15`",
                )
            )
    lines = ["| target | agent-audit | Phoenix | ratio | command |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def _num(report: dict[str, Any] | None, key: str) -> float | None:
    value = (report or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _times(ours: float | None, base: float | None, higher_is_better: bool) -> str:
    if not ours or not base:
        return "–"
    return f"{(ours / base if higher_is_better else base / ours):.2f}x"


def _met(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "not measured"
    return "met" if (value >= target if higher_is_better else value < target) else "not met"


def issue_table(directory: Path) -> str:
    """Every figure of issue 17: target, this tree, baseline (same run), ratio, peer, met."""
    meta = _load(directory, "meta.json") or {}
    g50, g50b = _load(directory, "grpc50.json"), _load(directory, "grpc50.base.json")
    g1, g1b = _load(directory, "grpc1.json"), _load(directory, "grpc1.base.json")
    side = _load(directory, "phoenix.json") or {}
    peer, ours_there = side.get("phoenix") or {}, side.get("agent_audit") or {}
    rows: list[list[str]] = []

    def add(
        figure: str,
        target: str,
        ours: float | None,
        base: float | None,
        *,
        goal: float,
        higher: bool,
        unit: str = "",
        peer_text: str = "",
        command: str = "",
    ) -> None:
        rows.append(
            [
                figure,
                target,
                _fmt(ours, unit),
                _fmt(base, unit),
                _times(ours, base, higher),
                peer_text,
                _met(ours, goal, higher),
                command,
            ]
        )

    load = "python -m bench.load --spawn --clients 4"
    peer_e2e = ""
    if peer:
        peer_e2e = (
            f"Phoenix {_fmt(_num(peer, 'e2e_spans_per_s'))} vs ours "
            f"{_fmt(_num(ours_there, 'e2e_spans_per_s'))} (OTLP/HTTP, 18,000 spans): "
            f"{_ratio(ours_there.get('e2e_spans_per_s'), peer.get('e2e_spans_per_s'), True)}"
        )
    add(
        "end-to-end spans/s, gRPC, 50 runs/request, 4 clients",
        ">= 15,000",
        _num(g50, "e2e_spans_per_s"),
        _num(g50b, "e2e_spans_per_s"),
        goal=15000,
        higher=True,
        peer_text=peer_e2e,
        command=f"`{load} --runs 20000`",
    )
    add(
        "end-to-end spans/s, 1 run/request (4 clients)",
        ">= 5,000",
        _num(g1, "e2e_spans_per_s"),
        _num(g1b, "e2e_spans_per_s"),
        goal=5000,
        higher=True,
        command=f"`{load} --runs 4000 --runs-per-request 1`",
    )
    c1, c1b = _load(directory, "grpc1c1.json"), _load(directory, "grpc1c1.base.json")
    if c1:  # optional: `bench.load ... --clients 1 --runs-per-request 1 --json DIR/grpc1c1.json`
        add(
            "end-to-end spans/s, 1 run/request, 1 client",
            ">= 5,000",
            _num(c1, "e2e_spans_per_s"),
            _num(c1b, "e2e_spans_per_s"),
            goal=5000,
            higher=True,
            command="`python -m bench.load --spawn --clients 1 --runs-per-request 1`",
        )
    for label, ours_run, base_run in (("50", g50, g50b), ("1", g1, g1b)):
        add(
            f"collector CPU per span, {label} run(s)/request",
            "",
            _num(ours_run, "collector_cpu_us_per_span"),
            _num(base_run, "collector_cpu_us_per_span"),
            goal=float("inf"),
            higher=False,
            unit=" µs",
            command="the commands above",
        )
        rows[-1][6] = ""  # no target: a figure to compare with the baseline
    peer_lag = ""
    if peer:
        lag = _fmt(peer.get("last_ack_to_all_visible_s"))
        peer_lag = f"Phoenix: last ack -> all visible {lag} s"
    add(
        "p99 ack -> visible (50 runs/request)",
        "< 200 ms",
        _num(g50, "ack_to_visible_ms_p99"),
        _num(g50b, "ack_to_visible_ms_p99"),
        goal=200,
        higher=False,
        unit=" ms",
        peer_text=peer_lag,
        command="the first command",
    )
    for figure, key, goal in (
        ("collector idle RSS", "idle_rss_mb", 110.0),
        ("collector peak RSS under the 50 runs/request load", "peak_rss_mb_vmhwm", 300.0),
    ):
        peer_rss = f"Phoenix {_fmt(_num(peer, key), ' MB')}" if peer else ""
        add(
            figure,
            f"<= {goal:.0f} MB",
            _num(g50, key),
            _num(g50b, key),
            goal=goal + 0.001,
            higher=False,
            unit=" MB",
            peer_text=peer_rss,
            command="the first command",
        )
    query, query_b = _load(directory, "query.json"), _load(directory, "query.base.json")
    base_cases = {c["case"]: c for c in (query_b or {}).get("cases", [])}
    for case in (query or {}).get("cases", []):
        add(
            f"1M runs: {case['case']} (p50)",
            "< 50 ms",
            _num(case, "p50_ms"),
            _num(base_cases.get(case["case"]), "p50_ms"),
            goal=50,
            higher=False,
            unit=" ms",
            command="`python -m bench.query time --db /tmp/bench-query/1m.duckdb --repeat 9`",
        )
    burst = _load(directory, "burst.json") or {}
    ours_burst, base_burst = burst.get("this_tree"), burst.get("baseline")
    if ours_burst:
        runs = float(ours_burst["runs"])
        add(
            f"burst of {int(runs):,} runs at full speed: runs stored",
            f"all {int(runs):,}",
            _num(ours_burst, "runs_stored"),
            _num(base_burst, "runs_stored"),
            goal=runs,
            higher=True,
            command=f"`python -m bench.burst --runs {int(runs)}`",
        )
    overhead = _load(directory, "overhead.json") or {}
    ratio = (overhead.get("ratios") or {}).get("agent_audit") or {}
    thread_cpu, process_cpu = _num(ratio, "thread_cpu"), _num(ratio, "process_cpu")
    rows.append(
        [
            "instrumentation cost per span / bare SDK (CPU of the agent's thread; of the process)",
            "<= 1.2x",
            f"{thread_cpu:.2f}x; {process_cpu:.2f}x" if thread_cpu and process_cpu else "–",
            "–",
            "–",
            "",
            _met(thread_cpu, 1.2001, False),
            "`python bench/overhead.py --rounds 9`",
        ]
    )
    header = (
        f"cores: {meta.get('cores', os.cpu_count())}, load average "
        f"{meta.get('loadavg_before', '?')} -> {meta.get('loadavg_after', '?')}, "
        f"started {meta.get('started', '?')}; baseline: {meta.get('baseline_repo') or 'none'}"
    )
    lines = [
        header,
        "",
        "| figure | target | this tree | baseline | vs baseline | peer | met | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "run":
        parser = argparse.ArgumentParser(prog="python -m bench.report run")
        add_suite_arguments(parser)
        parsed = parser.parse_args(args[1:])
        run_suite(
            SuiteOptions(
                out=parsed.out,
                baseline_repo=parsed.baseline_repo,
                query_db=parsed.query_db,
                phoenix=parsed.phoenix,
                quick=parsed.quick,
            )
        )
        directory = parsed.out
    else:
        directory = Path(args[0] if args else ".")
    print(issue_table(directory))
    print()
    print(results_table(directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
