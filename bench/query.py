"""Query benchmark: the REST API over a big database, and readers' cost to ingest.

    python -m bench.query build --db /tmp/bench-query/1m.duckdb --runs 1000000 --via sql
    python -m bench.query build --db /tmp/bench-query/20k.duckdb --runs 20000 --via store
    python -m bench.query time --db /tmp/bench-query/1m.duckdb --repeat 9
    python -m bench.query funcs --db /tmp/bench-query/1m.duckdb --repeat 9
    python -m bench.query readers --db-from /tmp/bench-query/20k.duckdb --readers 3 --runs 10000

``build --via sql`` synthesises the runs set-based in DuckDB (bench/dataset.py;
1M runs in 15-30 min on this machine) and then the search index beside the file
(``<db>.search``) in one pass (collector/search_documents.py), so the collector
starts with an index that has caught up. ``time`` starts the collector on the
file and times each API call (after one warm-up call) ``--repeat`` times: p50
and p95 in ms, against the 50 ms target; then, with the collector stopped, the
stats computed by the query function with no kept answer, with the collector's
one DuckDB thread (what a stats call costs after the data changed). ``readers``
runs the bench.load ingest load twice on copies of a database, without and with
dashboard-like readers polling every second, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx

from bench.collector_proc import REPO, percentile, proc_cpu_s, spawn_collector
from bench.dataset import build_via_sql, build_via_store
from collector.queries import RunFilters, decode_cursor, encode_cursor, parse_time
from collector.query_stats import run_stats
from collector.search_documents import FORMAT, build_index

__all__ = ["main", "TARGET_MS"]

TARGET_MS = 50.0


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _layout(db_path: Path) -> dict[str, Any]:
    """What the timed calls need: a deep cursor, a 100-step run, the last day."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        runs = int(con.execute("SELECT count(*) FROM agent_runs").fetchone()[0])  # type: ignore[index]
        long_run = con.execute(
            "SELECT id FROM agent_runs ORDER BY total_steps DESC, id LIMIT 1"
        ).fetchone()
        normal = con.execute(
            "SELECT id FROM agent_runs WHERE total_steps BETWEEN 5 AND 12 ORDER BY id LIMIT 1"
        ).fetchone()
        last = con.execute("SELECT max(started_at) FROM agent_runs").fetchone()
        middle = con.execute(
            "SELECT started_at, id FROM agent_runs ORDER BY started_at DESC, id DESC "
            "LIMIT 1 OFFSET ?",
            [runs // 2],
        ).fetchone()
        steps = int(con.execute("SELECT count(*) FROM agent_steps").fetchone()[0])  # type: ignore[index]
        max_steps = con.execute("SELECT max(total_steps) FROM agent_runs").fetchone()
        normal_steps = con.execute(
            "SELECT total_steps FROM agent_runs WHERE id = ?", [normal[0] if normal else ""]
        ).fetchone()
        model = con.execute(
            "SELECT model_used FROM agent_runs GROUP BY ALL ORDER BY count(*) LIMIT 1"
        ).fetchone()
        agent = con.execute(
            "SELECT agent_name FROM agent_runs GROUP BY ALL ORDER BY count(*) DESC LIMIT 1 OFFSET 1"
        ).fetchone()
        label = con.execute(
            "SELECT value FROM annotations WHERE kind = 'label' GROUP BY ALL "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        recent = con.execute(
            "SELECT id FROM agent_runs ORDER BY started_at DESC LIMIT 1 OFFSET 1000"
        ).fetchone()
    finally:
        con.close()
    assert long_run and normal and last and middle
    return {
        "runs": runs,
        "steps": steps,
        "long_run": long_run[0],
        "long_run_steps": max_steps[0] if max_steps else None,
        "normal_run": normal[0],
        "normal_run_steps": normal_steps[0] if normal_steps else None,
        "rare_model": model[0] if model else None,
        "agent": agent[0] if agent else None,
        "id_prefix": recent[0][:13] if recent else None,
        "label": label[0] if label else "wrong-tool",
        "day_until": last[0],
        "deep_cursor": encode_cursor(middle[0], middle[1]),
    }


def _cases(layout: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    until = layout["day_until"] + timedelta(seconds=1)
    since = until - timedelta(days=1)
    day = {"since": _iso(since), "until": _iso(until)}
    return [
        # No query at all: what HTTP and the server cost on this machine right now.
        ("baseline: GET /healthz", "/healthz", {}),
        ("first page", "/agent/runs", {"limit": 50}),
        ("filter status=failed", "/agent/runs", {"limit": 50, "status": "failed"}),
        ("filter source=n8n", "/agent/runs", {"limit": 50, "source": "n8n"}),
        (f"filter model (rarest: {layout['rare_model']})", "/agent/runs",
         {"limit": 50, "model": layout["rare_model"]}),
        ("filter agent_name", "/agent/runs", {"limit": 50, "agent_name": layout["agent"]}),
        ("filter since (last day)", "/agent/runs", {"limit": 50, "since": day["since"]}),
        ("filter until (before last day)", "/agent/runs", {"limit": 50, "until": day["since"]}),
        ("filter tool=docker_inspect", "/agent/runs", {"limit": 50, "tool": "docker_inspect"}),
        ("filter has_error", "/agent/runs", {"limit": 50, "has_error": "true"}),
        ("filter annotation=bad", "/agent/runs", {"limit": 50, "annotation": "bad"}),
        ("filter annotation label", "/agent/runs", {"limit": 50, "annotation": layout["label"]}),
        ("q words 'refused'", "/agent/runs", {"limit": 50, "q": "refused"}),
        ("q words, rare 'handshake listening'", "/agent/runs",
         {"limit": 50, "q": "handshake listening"}),
        ("q not words 'bytes=123456'", "/agent/runs", {"limit": 50, "q": "bytes=123456"}),
        ("q run id prefix with dash", "/agent/runs", {"limit": 50, "q": layout["id_prefix"]}),
        ("q + status=failed", "/agent/runs", {"limit": 50, "q": "refused", "status": "failed"}),
        (
            "deep page (cursor at the middle)",
            "/agent/runs",
            {"limit": 50, "cursor": layout["deep_cursor"]},
        ),
        (
            f"drill-down {layout['long_run_steps']}-step run",
            f"/agent/runs/{layout['long_run']}",
            {},
        ),
        (
            f"drill-down {layout['normal_run_steps']}-step run",
            f"/agent/runs/{layout['normal_run']}",
            {},
        ),
        ("stats, all runs", "/agent/runs/stats", {}),
        ("stats, one day", "/agent/runs/stats", day),
        ("stats, status=failed", "/agent/runs/stats", {"status": "failed"}),
    ]  # fmt: skip


def ensure_index(db_path: Path) -> dict[str, Any]:
    """Build the search index beside ``db_path`` in one pass when it is not there (or is
    of an older layout: the collector would rebuild it run by run)."""
    import shutil

    directory = db_path.with_name(db_path.name + ".search")
    marker = directory / "format"
    if marker.exists() and marker.read_text().strip() == FORMAT:
        return {"index": "present"}
    # Built beside the old one and swapped in: an interrupted build leaves the old index.
    building = db_path.with_name(db_path.name + ".search.building")
    if building.exists():
        shutil.rmtree(building)
    con = duckdb.connect(str(db_path), read_only=True)
    began = time.monotonic()
    try:
        con.execute("SET TimeZone = 'UTC'")
        runs, _, _ = build_index(con, building, progress=True)
    finally:
        con.close()
    if directory.exists():
        shutil.rmtree(directory)
    building.rename(directory)
    size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    return {
        "index_runs": runs,
        "index_seconds": round(time.monotonic() - began, 1),
        "index_mb": round(size / 2**20, 1),
    }


def time_stats_computed(
    db_path: Path, repeat: int, layout: dict[str, Any], threads: int = 1
) -> list[dict[str, Any]]:
    """The stats as computed after a change (no kept answer), by the API's query function.

    With ``threads`` DuckDB threads: the collector's default is one
    (``AGENT_AUDIT_DB_THREADS``); 0 leaves DuckDB's own (one per core), which
    spends more CPU on the same answer.
    """
    until = layout["day_until"] + timedelta(seconds=1)
    cases = [
        ("stats, all runs, computed (no kept answer)", RunFilters()),
        (
            "stats, one day, computed (no kept answer)",
            RunFilters(since=parse_time("since", _iso(until - timedelta(days=1)))),
        ),
    ]
    con = duckdb.connect(str(db_path), read_only=True)
    results = []
    try:
        con.execute("SET TimeZone = 'UTC'")
        if threads > 0:
            con.execute(f"SET threads = {int(threads)}")
        for name, filters in cases:
            run_stats(con, filters, cache=None)
            timings, cpu = [], []
            for _ in range(repeat):
                began, began_cpu = time.perf_counter(), time.process_time()
                body = run_stats(con, filters, cache=None)
                timings.append((time.perf_counter() - began) * 1000)
                cpu.append((time.process_time() - began_cpu) * 1000)
            results.append(
                {
                    "case": name,
                    "p50_ms": round(percentile(timings, 50), 1),
                    "p95_ms": round(percentile(timings, 95), 1),
                    "cpu_p50_ms": round(percentile(cpu, 50), 1),
                    "total": body["total_runs"],
                    "rows": 0,
                    "duckdb_threads": threads,
                }
            )
    finally:
        con.close()
    return results


def time_functions(db_path: Path, repeat: int, *, with_index: bool = False) -> dict[str, Any]:
    """The API's query functions in this process on a read-only connection (no HTTP).

    What each call costs without the server around it, the run costs of a page
    included. With ``with_index``, the search index beside the file answers as in
    the collector (it must have been built: ``build`` does).
    """
    from collector.costs import run_costs
    from collector.queries import list_runs
    from collector.query_costs import kept_costs
    from collector.search_index import SearchIndex

    layout = _layout(db_path)
    until = layout["day_until"] + timedelta(seconds=1)
    since = until - timedelta(days=1)
    F = RunFilters
    cases: list[tuple[str, Any]] = [
        ("list: first page", F()),
        ("list: status=failed", F(statuses=("failed",))),
        ("list: source=n8n", F(source="n8n")),
        ("list: model (rarest)", F(model=layout["rare_model"])),
        ("list: agent_name", F(agent_name=layout["agent"])),
        ("list: since (last day)", F(since=since)),
        ("list: until (before last day)", F(until=since)),
        ("list: tool (SQL)", F(tool="docker_inspect")),
        ("list: has_error (SQL)", F(has_error=True)),
        ("list: annotation=bad (SQL)", F(annotation="bad")),
        ("list: q not words, scan (SQL)", F(text="bytes=123456")),
    ]
    indexed: list[tuple[str, Any]] = [
        ("list+index: q words 'refused'", F(text="refused")),
        ("list+index: q words, rare", F(text="handshake listening")),
        ("list+index: q not words 'bytes=123456'", F(text="bytes=123456")),
        ("list+index: q run id prefix with dash", F(text=layout["id_prefix"])),
        ("list+index: q + status=failed", F(text="refused", statuses=("failed",))),
        ("list+index: tool", F(tool="docker_inspect")),
        ("list+index: has_error", F(has_error=True)),
        ("list+index: annotation=bad", F(annotation="bad")),
        ("list+index: annotation label", F(annotation=layout["label"])),
    ]
    if with_index:
        cases = [c for c in cases if "(SQL)" not in c[0]]
    con = duckdb.connect(str(db_path), read_only=True)
    results = []
    index = None

    def timed(name: str, call: Callable[[], Any], total: Callable[[Any], Any]) -> None:
        call()
        timings, cpu = [], []
        for _ in range(repeat):
            began, began_cpu = time.perf_counter(), time.process_time()
            value = call()
            timings.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        results.append(
            {
                "case": name,
                "p50_ms": round(percentile(timings, 50), 1),
                "p95_ms": round(percentile(timings, 95), 1),
                # This process's CPU (every DuckDB thread): steadier than wall time on a
                # shared machine.
                "cpu_p50_ms": round(percentile(cpu, 50), 1),
                "total": total(value),
            }
        )

    def read(fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        cursor = con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            return fn(cursor)
        finally:
            cursor.close()

    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        for name, filters in cases:
            timed(name, lambda f=filters: list_runs(con, f), lambda page: page.total)
        if with_index:
            index = SearchIndex(db_path.with_name(db_path.name + ".search"), read)
            for name, filters in indexed:
                timed(
                    name,
                    lambda f=filters: list_runs(con, f, search=index),
                    lambda page: page.total,
                )
        deep = decode_cursor(layout["deep_cursor"])
        timed(
            "list: deep page (cursor at the middle)",
            lambda: list_runs(con, F(), after=deep),
            lambda page: page.total,
        )
        ids = [run["id"] for run in list_runs(con, F()).runs]
        timed("run costs of the first page", lambda: run_costs(con, ids), len)
        deep_ids = [run["id"] for run in list_runs(con, F(), after=deep).runs]
        timed("run costs of the deep page", lambda: run_costs(con, deep_ids), len)
        timed(
            "stats, all runs, computed",
            lambda: run_stats(con, F(), cache=None),
            lambda body: body["total_runs"],
        )
        timed(
            "stats, one day, computed",
            lambda: run_stats(con, F(since=since), cache=None),
            lambda body: body["total_runs"],
        )
        timed(
            "stats, all runs, unchanged data (kept answer)",
            lambda: run_stats(con, F()),
            lambda body: body["total_runs"],
        )
        timed(
            "costs, all runs, computed",
            lambda: kept_costs(con, F(), cache=None),
            lambda body: body["runs"],
        )
        timed(
            "costs, all runs, unchanged data (kept answer)",
            lambda: kept_costs(con, F()),
            lambda body: body["runs"],
        )
    finally:
        if index is not None:
            index.close()
        con.close()
    return {"db": str(db_path), "cases": results, "load_after": _load_average()}


def _load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def print_table(report: dict[str, Any]) -> None:
    """Each case against the 50 ms target, p50 deciding."""
    print(f"\n{'case':<48} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>7}  target  met   total")
    for case in report["cases"]:
        if "error" in case:
            print(f"{case['case']:<48} {case['error']}")
            continue
        met = "yes" if case["p50_ms"] < TARGET_MS else "NO"
        cpu = case.get("cpu_p50_ms", case.get("cpu_mean_ms"))
        cpu_text = "" if cpu is None else f"{cpu:.1f}"
        print(
            f"{case['case']:<48} {case['p50_ms']:>8.1f} {case['p95_ms']:>8.1f} {cpu_text:>7}  "
            f"< {TARGET_MS:.0f}    {met:<4} {case['total']}"
        )
    print(f"load average before / after: {report.get('load_before')} / {report.get('load_after')}")


def time_api(
    db_path: Path,
    repeat: int,
    repo: Path,
    *,
    search_index: bool = True,
    computed: bool = True,
    threads: int = 1,
) -> dict[str, Any]:
    """Start the collector on ``db_path`` and time every case."""
    layout = _layout(db_path)
    index = ensure_index(db_path) if search_index else {"index": "off"}
    load_before = _load_average()
    env = None if search_index else {"AGENT_AUDIT_SEARCH_INDEX": "false"}
    collector = spawn_collector(db_path, repo=repo, env=env)
    results: list[dict[str, Any]] = []
    cases = _cases(layout)
    if not search_index:
        # What the index serves would scan for seconds a call (`funcs` times those scans).
        served = ("q", "tool", "has_error", "annotation")
        cases = [c for c in cases if not any(key in c[2] for key in served)]
    try:
        with httpx.Client(base_url=collector.http_url, timeout=120) as api:
            for name, path, params in cases:
                first = api.get(path, params=params)
                if first.status_code != 200:
                    results.append(
                        {"case": name, "error": f"{first.status_code} {first.text[:200]}"}
                    )
                    continue
                body = first.json()
                timings = []
                cpu_before = proc_cpu_s(collector.pid)
                for _ in range(repeat):
                    began = time.perf_counter()
                    response = api.get(path, params=params)
                    timings.append((time.perf_counter() - began) * 1000)
                    response.raise_for_status()
                cpu_s = proc_cpu_s(collector.pid) - cpu_before
                results.append(
                    {
                        "case": name,
                        "p50_ms": round(percentile(timings, 50), 1),
                        "p95_ms": round(percentile(timings, 95), 1),
                        # The collector's CPU per call (its idle threads included): steadier
                        # than wall time on a shared machine.
                        "cpu_mean_ms": round(cpu_s * 1000 / repeat, 1),
                        "total": body.get("total", body.get("total_runs")),
                        "rows": len(body.get("runs") or body.get("steps") or []),
                    }
                )
    finally:
        collector.stop()
    if computed:
        results += time_stats_computed(db_path, repeat, layout, threads)
    return {
        "db": str(db_path),
        "layout": {k: str(v) for k, v in layout.items()},
        "index": index,
        "cases": results,
        "load_before": load_before,
        "load_after": _load_average(),
        "cores": os.cpu_count(),
    }


def readers_cost(args: argparse.Namespace) -> dict[str, Any]:
    """The same load without and with dashboard-like readers; ratio of e2e spans/s."""
    from bench import load

    figures = {}
    for readers in (0, args.readers):
        argv = [
            "--spawn",
            "--runs",
            str(args.runs),
            "--clients",
            str(args.clients),
            "--readers",
            str(readers),
            "--repo",
            str(args.repo),
        ]
        if args.db_from:
            argv += ["--db-from", str(args.db_from)]
        out = Path(tempfile.mkdtemp(prefix="bench-readers-")) / "load.json"
        load.main([*argv, "--json", str(out)])
        figures[readers] = json.loads(out.read_text())
    base = figures[0]["e2e_spans_per_s"]
    loaded = figures[args.readers]["e2e_spans_per_s"]
    return {
        "without_readers_e2e_spans_per_s": base,
        "with_readers_e2e_spans_per_s": loaded,
        "readers": args.readers,
        "cost": round(1 - loaded / base, 3) if base and loaded else None,
        "reader_cycle_ms_p50": figures[args.readers].get("reader_cycle_ms_p50"),
        "reader_cycle_ms_p95": figures[args.readers].get("reader_cycle_ms_p95"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="create a database of --runs runs")
    build.add_argument("--db", type=Path, required=True)
    build.add_argument("--runs", type=int, default=1_000_000)
    build.add_argument("--steps", type=int, default=9)
    build.add_argument("--via", choices=("sql", "store"), default="sql")
    build.add_argument("--batch-runs", type=int, default=2000, help="store: runs per write")
    build.add_argument("--resume", action="store_true", help="sql: go on with an interrupted build")
    build.add_argument("--no-spans", action="store_true", help="sql: leave the spans table empty")
    build.add_argument("--no-index", action="store_true", help="do not build the search index")
    timing = sub.add_parser("time", help="time the API over a database")
    timing.add_argument("--db", type=Path, required=True)
    timing.add_argument("--repeat", type=int, default=30)
    timing.add_argument("--repo", type=Path, default=REPO)
    timing.add_argument("--json", type=Path)
    timing.add_argument(
        "--no-search-index",
        action="store_true",
        help="run the collector without its search index, leaving out the cases it serves",
    )
    timing.add_argument(
        "--api-only", action="store_true", help="skip the stats computed in this process"
    )
    timing.add_argument(
        "--threads",
        type=int,
        default=1,
        help="DuckDB threads for the stats computed in this process (the collector's "
        "default: 1; 0 = one per core)",
    )
    funcs = sub.add_parser("funcs", help="time the query functions in-process (no HTTP)")
    funcs.add_argument("--db", type=Path, required=True)
    funcs.add_argument("--repeat", type=int, default=9)
    funcs.add_argument("--index", action="store_true", help="with the search index beside the file")
    readers = sub.add_parser("readers", help="ingest with and without dashboard readers")
    readers.add_argument("--db-from", type=Path)
    readers.add_argument("--readers", type=int, default=3)
    readers.add_argument("--runs", type=int, default=10000)
    readers.add_argument("--clients", type=int, default=4)
    readers.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args(argv)
    report: dict[str, Any]
    if args.command == "build":
        if args.db.exists() and not (args.resume and args.via == "sql"):
            parser.error(f"{args.db} exists; remove it first (or --resume a --via sql build)")
        builder: Callable[..., Any] = build_via_sql if args.via == "sql" else build_via_store
        kwargs: dict[str, Any] = {"runs": args.runs, "steps": args.steps}
        if args.via == "store":
            kwargs["runs_per_batch"] = args.batch_runs
        else:
            kwargs["spans"] = not args.no_spans
        result = builder(args.db, **kwargs)
        index = {} if args.no_index else ensure_index(args.db)
        report = {
            "via": args.via,
            "runs": result.runs,
            "steps": result.steps,
            "spans": result.spans,
            "seconds": round(result.seconds, 1),
            "rows_per_s": round(result.rows_per_s),
            "spans_per_s": round(result.spans / result.seconds) if result.spans else None,
            "db_bytes": args.db.stat().st_size,
            **index,
        }
    elif args.command == "time":
        report = time_api(
            args.db,
            args.repeat,
            args.repo,
            search_index=not args.no_search_index,
            computed=not args.api_only,
            threads=args.threads,
        )
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        print_table(report)
        return 0
    elif args.command == "funcs":
        report = time_functions(args.db, args.repeat, with_index=args.index)
        report["load_before"] = None
        print(json.dumps(report, indent=2))
        print_table(report)
        return 0
    else:
        report = readers_cost(args)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
