"""The API reads pages make, through the shared cache (dashboard/reads.py).

Each read has a ``prefetch_*`` twin that starts it without waiting, so a page can
start everything it will need first and then draw as the answers come.
How long an answer is reused:

- lists of runs, steps and stats: half the live refresh interval (each tick of a
  live view reads anew; a click or a second viewer within it does not);
- a finished run with its steps: 30 s (it no longer changes; a write through
  the dashboard forgets it at once); a running run: not reused;
- choices of the filter boxes and the duration sample: 30 s, and a stale list
  is shown at once while a fresh one is read (they change slowly).
"""

from __future__ import annotations

from dashboard.client import AuditClient, Record, RunFilters, RunPage
from dashboard.reads import shared_reads
from dashboard.views.connection import settings
from instrumentation.attributes import RunStatus

__all__ = [
    "agent_names",
    "duration_sample",
    "filter_options",
    "forget_all",
    "prefetch_run_annotations",
    "recent_good_runs",
    "prefetch_run",
    "prefetch_runs_page",
    "prefetch_sub_runs",
    "run",
    "run_annotations",
    "runs_page",
    "costs",
    "prefetch_stats",
    "prefetch_filter_choices",
    "prefetch_duration_sample",
    "stats",
    "step",
    "steps",
    "prefetch_steps",
    "sub_runs",
]

FINISHED_RUN_TTL_S = 30.0
SLOW_LIST_TTL_S = 30.0
SLOW_LIST_STALE_OK_S = 300.0
DURATION_SAMPLE_PAGES = 5  # the histogram uses at most this many pages of runs
DURATION_PAGE_SIZE = 200


def _list_ttl() -> float:
    # Half the live interval: each tick of a live view reads anew.
    return settings().refresh_s / 2


def forget_all() -> None:
    """After a write through the dashboard: the next reads go to the API."""
    shared_reads().forget_all()


# --- runs ---------------------------------------------------------------------------
def _runs_page_key(
    api: AuditClient, filters: RunFilters, limit: int, cursor: str | None
) -> tuple[object, ...]:
    return ("runs", api.base_url, filters, limit, cursor)


def prefetch_runs_page(
    api: AuditClient,
    filters: RunFilters,
    *,
    limit: int,
    cursor: str | None = None,
) -> None:
    """Start reading one page of runs (each run carries its tool-call count)."""
    fetch = lambda: api.list_runs(filters, limit=limit, cursor=cursor)  # noqa: E731
    shared_reads().prefetch(_runs_page_key(api, filters, limit, cursor), fetch, _list_ttl())


def runs_page(
    api: AuditClient, filters: RunFilters, *, limit: int, cursor: str | None = None
) -> RunPage:
    """One page of runs (``GET /agent/runs``)."""
    return shared_reads().get(
        _runs_page_key(api, filters, limit, cursor),
        lambda: api.list_runs(filters, limit=limit, cursor=cursor),
        _list_ttl(),
    )


# --- one run ------------------------------------------------------------------------
def _run_ttl(record: Record) -> float:
    return 0.0 if record.get("status") == RunStatus.RUNNING else FINISHED_RUN_TTL_S


def prefetch_run(api: AuditClient, run_id: str) -> None:
    """Start reading a run with its steps."""
    shared_reads().prefetch(("run", api.base_url, run_id), lambda: api.get_run(run_id), _run_ttl)


def run(api: AuditClient, run_id: str) -> Record:
    """A run with its steps (``GET /agent/runs/{id}``); a copy the caller may change."""
    record = shared_reads().get(
        ("run", api.base_url, run_id), lambda: api.get_run(run_id), _run_ttl
    )
    copied = dict(record)
    copied["steps"] = [dict(s) for s in record.get("steps") or []]
    return copied


def _recent_good_fetch(api: AuditClient, agent_name: str | None) -> list[Record]:
    filters = RunFilters(statuses=(RunStatus.COMPLETED,), agent_name=agent_name or None)
    return api.list_runs(filters, limit=20).runs


def recent_good_runs(api: AuditClient, agent_name: str | None) -> list[Record]:
    """The latest completed runs of an agent, offered for a comparison (not up to the second)."""
    return shared_reads().get(
        ("recent-good", api.base_url, agent_name),
        lambda: _recent_good_fetch(api, agent_name),
        SLOW_LIST_TTL_S,
        stale_ok_s=SLOW_LIST_STALE_OK_S,
    )


def _steps_key(api: AuditClient, run_id: str, after_step: int) -> tuple[object, ...]:
    return ("steps", api.base_url, run_id, after_step)


def step(api: AuditClient, run_id: str, number: int) -> Record | None:
    """Step ``number`` of a run, alone (one past the first 1,000 its run record holds)."""

    def fetch() -> Record | None:
        found = api.steps_page(run_id, after_step=number - 1, limit=1).steps
        return found[0] if found and found[0].get("step_number") == number else None

    return shared_reads().get(("step", api.base_url, run_id, number), fetch, _list_ttl())


def prefetch_steps(api: AuditClient, run_id: str, *, after_step: int) -> None:
    """Start reading a run's steps numbered above ``after_step``."""
    shared_reads().prefetch(
        _steps_key(api, run_id, after_step),
        lambda: api.get_steps(run_id, after_step=after_step),
        _list_ttl(),
    )


def steps(api: AuditClient, run_id: str, *, after_step: int) -> list[Record]:
    """A run's steps numbered above ``after_step`` (``GET /agent/runs/{id}/steps``)."""
    return shared_reads().get(
        _steps_key(api, run_id, after_step),
        lambda: api.get_steps(run_id, after_step=after_step),
        _list_ttl(),
    )


_MAX_SUB_RUNS = 200


def _sub_runs_fetch(api: AuditClient, run_id: str) -> list[Record]:
    page = api.list_runs(RunFilters(parent_run_id=run_id), limit=_MAX_SUB_RUNS)
    # Oldest first, as they were started.
    return sorted(
        page.runs,
        key=lambda r: (r.get("started_at") is None, r.get("started_at") or "", str(r.get("id"))),
    )


def prefetch_sub_runs(api: AuditClient, run_id: str) -> None:
    """Start reading a run's sub-agent runs."""
    shared_reads().prefetch(
        ("sub-runs", api.base_url, run_id), lambda: _sub_runs_fetch(api, run_id), _list_ttl()
    )


def sub_runs(api: AuditClient, run_id: str) -> list[Record]:
    """Runs whose parent is ``run_id`` (sub-agents); empty when SQL is unavailable."""
    return shared_reads().get(
        ("sub-runs", api.base_url, run_id), lambda: _sub_runs_fetch(api, run_id), _list_ttl()
    )


def prefetch_run_annotations(api: AuditClient, run_id: str) -> None:
    """Start reading a run's annotations."""
    shared_reads().prefetch(
        ("annotations", api.base_url, run_id), lambda: api.annotations(run_id), _list_ttl()
    )


def run_annotations(api: AuditClient, run_id: str) -> list[Record]:
    """A run's annotations, oldest first."""
    return shared_reads().get(
        ("annotations", api.base_url, run_id), lambda: api.annotations(run_id), _list_ttl()
    )


# --- stats and filter choices -------------------------------------------------------
def prefetch_stats(api: AuditClient, filters: RunFilters, *, bucket: str) -> None:
    """Start reading ``GET /agent/stats``."""
    shared_reads().prefetch(
        ("stats", api.base_url, filters, bucket),
        lambda: api.stats(filters, bucket=bucket),
        _list_ttl(),
    )


def costs(api: AuditClient, filters: RunFilters, *, bucket: str) -> Record:
    """``GET /agent/costs`` for ``filters``."""
    return shared_reads().get(
        ("costs", api.base_url, filters, bucket),
        lambda: api.costs(filters, bucket=bucket),
        _list_ttl(),
    )


def stats(api: AuditClient, filters: RunFilters, *, bucket: str) -> Record:
    """``GET /agent/stats`` for ``filters``."""
    return shared_reads().get(
        ("stats", api.base_url, filters, bucket),
        lambda: api.stats(filters, bucket=bucket),
        _list_ttl(),
    )


def _options_fetch(api: AuditClient) -> tuple[list[str], list[str]]:
    answer = api.stats(RunFilters())
    sources = sorted(str(k) for k in (answer.get("by_source") or {}) if k)
    models = sorted(str(k) for k in (answer.get("by_model") or {}) if k)
    return sources, models


def _agents_fetch(api: AuditClient) -> list[str]:
    # From the stats (kept by the collector), not /sql: the SQL worker's first query
    # copies the tables, seconds on a large store.
    answer = api.stats(RunFilters())
    return sorted(str(k) for k in (answer.get("by_agent") or {}) if k and k != "unknown")[:500]


def prefetch_filter_choices(api: AuditClient, *, agents: bool = True) -> None:
    """Start reading the filter boxes' choices (sources and models; agents if asked)."""
    reads = shared_reads()
    reads.prefetch(("options", api.base_url), lambda: _options_fetch(api), SLOW_LIST_TTL_S)
    if agents:
        reads.prefetch(("agents", api.base_url), lambda: _agents_fetch(api), SLOW_LIST_TTL_S)


def filter_options(api: AuditClient) -> tuple[list[str], list[str]]:
    """Sources and models that occur in stored runs, for the filter boxes."""
    return shared_reads().get(
        ("options", api.base_url),
        lambda: _options_fetch(api),
        SLOW_LIST_TTL_S,
        stale_ok_s=SLOW_LIST_STALE_OK_S,
    )


def agent_names(api: AuditClient) -> list[str]:
    """Agent names that occur in stored runs (empty when SQL is unavailable)."""
    return shared_reads().get(
        ("agents", api.base_url),
        lambda: _agents_fetch(api),
        SLOW_LIST_TTL_S,
        stale_ok_s=SLOW_LIST_STALE_OK_S,
    )


def _durations_fetch(api: AuditClient, filters: RunFilters) -> tuple[list[float], bool]:
    durations: list[float] = []
    cursor: str | None = None
    for _ in range(DURATION_SAMPLE_PAGES):
        page = api.list_runs(filters, limit=DURATION_PAGE_SIZE, cursor=cursor)
        durations += [
            float(r["duration_ms"]) for r in page.runs if r.get("duration_ms") is not None
        ]
        cursor = page.next_cursor
        if not cursor:
            return durations, False
    return durations, True


def prefetch_duration_sample(api: AuditClient, filters: RunFilters) -> None:
    """Start reading the latest runs' durations for the histogram."""
    shared_reads().prefetch(
        ("durations", api.base_url, filters),
        lambda: _durations_fetch(api, filters),
        SLOW_LIST_TTL_S,
    )


def duration_sample(api: AuditClient, filters: RunFilters) -> tuple[list[float], bool]:
    """Durations of up to 1,000 latest runs, and whether there were more."""
    return shared_reads().get(
        ("durations", api.base_url, filters),
        lambda: _durations_fetch(api, filters),
        SLOW_LIST_TTL_S,
        stale_ok_s=SLOW_LIST_STALE_OK_S,
    )
