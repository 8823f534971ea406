"""The runs page: filters, the runs table (live), pagination; a row opens the run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from dashboard import routes
from dashboard.client import AuditClient, Record, RunFilters
from dashboard.formatting import STATUS_BADGES
from dashboard.views import api_reads
from dashboard.views.compact_list import compact_runs, responsive_switch
from dashboard.views.connection import guarded, settings
from dashboard.views.onboarding import empty_state

__all__ = [
    "PAGE_SIZE",
    "dates_to_range",
    "filter_bar",
    "filters_from_query",
    "prefetch_from_url",
    "runs_table",
]

PAGE_SIZE = 50
_CURSORS = "runs_cursors"  # session key: cursor of each page seen so far, page 1 = None
_PAGE = "runs_page_index"
_FILTER_KEY = "runs_filters_seen"
_SHOWN_IDS = "runs_shown_ids"  # the ids of the rows the user is looking at
_OPEN_RUN = "runs_open_run"  # a selected run, opened on the next full rerun


def dates_to_range(picked: Any) -> tuple[datetime | None, datetime | None]:
    """A date_input range as [since, until) in UTC; one picked day means that day."""
    days = [d for d in (picked if isinstance(picked, list | tuple) else [picked]) if d]
    if not days or not isinstance(days[0], date):
        return None, None
    first, last = days[0], days[-1]
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    return since, until


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d")  # what the Started box reads from its URL
_DATE_BOUND_YEARS = 10  # the box's default bounds: today ± 10 years


def _years_from(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def started_days(values: Sequence[str], today: date | None = None) -> tuple[date, ...]:
    """The days the Started box shows for ``?started=`` values, as Streamlit's date
    input reads them: each ``YYYY-MM-DD`` (or ``YYYY/MM/DD``), repeated ones once; one
    value it cannot read, or a day beyond its bounds (today ± 10 years), and the box
    stays empty (no date filter)."""
    current = today or date.today()
    low, high = _years_from(current, -_DATE_BOUND_YEARS), _years_from(current, _DATE_BOUND_YEARS)
    days: list[date] = []
    for value in dict.fromkeys(v for v in values if v):
        for fmt in _DATE_FORMATS:
            try:
                day = datetime.strptime(value, fmt).date()
                break
            except ValueError:
                continue
        else:
            return ()
        if not low <= day <= high:
            return ()
        days.append(day)
    return tuple(days)


def filters_from_query(query: Mapping[str, Sequence[str]], today: date | None = None) -> RunFilters:
    """The filters the bar will read from a URL query (each name to its values)."""

    def value(name: str) -> str:
        # The last of repeated values, as st.query_params gives it.
        values = query.get(name) or []
        return values[-1] if values else ""

    text = value("q").strip()
    since, until = dates_to_range(list(started_days(query.get("started") or (), today)))
    return RunFilters(
        statuses=tuple(s for s in query.get("status") or () if s in STATUS_BADGES),
        has_error=value("errors").lower() == "true",
        agent_name=value("agent") or None,
        source=value("source") or None,
        model=value("model") or None,
        text=text or None,
        annotation=value("annotation") or None,
        since=since,
        until=until,
    )


def _filters_in_url() -> RunFilters:
    # The filters for the reads started before the bar is drawn.
    params = st.query_params
    return filters_from_query({name: params.get_all(name) for name in params})


def prefetch_from_url(api: AuditClient) -> None:
    """Start reading what the page will show, before the page draws anything."""
    api_reads.prefetch_filter_choices(api)
    filters = _filters_in_url()
    if st.session_state.get(_PAGE, 0) == 0:
        api_reads.prefetch_runs_page(api, filters, limit=PAGE_SIZE)


def filter_bar(api: AuditClient) -> RunFilters:
    """Status, agent, source, model, date range and text filters, kept in the URL.

    The URL holds plain values (``?status=failed&agent=ops``), so a link reproduces
    the view.
    """
    sources, models = api_reads.filter_options(api)
    agents = api_reads.agent_names(api)
    first = st.columns([2.2, 1.2, 1.2, 1.4])
    second = st.columns([1.6, 1.2, 2.2, 0.9], vertical_alignment="bottom")
    statuses = first[0].multiselect(
        "Status", list(STATUS_BADGES), key="status", bind="query-params", placeholder="any status"
    )
    agent = first[1].selectbox(
        "Agent",
        agents,
        index=None,
        key="agent",
        bind="query-params",
        placeholder="any",
        accept_new_options=True,
    )
    source = first[2].selectbox(
        "Source", sources, index=None, key="source", bind="query-params", placeholder="any"
    )
    model = first[3].selectbox(
        "Model", models, index=None, key="model", bind="query-params", placeholder="any"
    )
    picked = second[0].date_input(
        "Started (UTC)", value=[], key="started", format="YYYY-MM-DD", bind="query-params"
    )
    marked = second[1].selectbox(
        "Marked",
        ["good", "bad", "any"],
        index=None,
        key="annotation",
        bind="query-params",
        placeholder="any or none",
        accept_new_options=True,
        help="Runs marked good or bad (their latest verdict), annotated at all, or with a label",
    )
    text = second[2].text_input(
        "Search",
        key="q",
        bind="query-params",
        placeholder="words, task text, run id…",
        # The two meanings of the API's q (README, Query API, "Text search").
        help="Words (letters and digits) are found anywhere in a run: task, final answer, "
        "each step's arguments, results, thinking and errors. Text with other characters "
        "(`disk-full`, `Exited (137)`) is looked for as written in the task and final answer "
        "only; to find it in a step, type its words (`exited 137`).",
    )
    has_error = second[3].toggle(
        "Has errors",
        key="errors",
        bind="query-params",
        help="Failed or lost runs, and runs with an error on any step (even if they recovered)",
    )
    since, until = dates_to_range(picked)
    return RunFilters(
        statuses=tuple(statuses),
        has_error=bool(has_error),
        agent_name=agent or None,
        source=source or None,
        model=model or None,
        since=since,
        until=until,
        text=(text or "").strip() or None,
        annotation=marked or None,
    )


def _page_state(filters: RunFilters) -> tuple[list[str | None], int]:
    # New filters start again at page 1: the old cursors belong to another result set.
    signature = repr(filters)
    if st.session_state.get(_FILTER_KEY) != signature:
        st.session_state[_FILTER_KEY] = signature
        st.session_state[_CURSORS] = [None]
        st.session_state[_PAGE] = 0
    return st.session_state[_CURSORS], st.session_state[_PAGE]


def _note_selected_run() -> None:
    # Selection indexes refer to the rows the user saw, not to a fresher fetch. The page
    # switch itself happens outside the fragment (see runs_table): switching pages from
    # inside a fragment's rerun can leave the browser applying the fragment's elements
    # to the new page.
    selection = st.session_state.get("runs_table")
    rows = list(getattr(getattr(selection, "selection", None), "rows", None) or [])
    if not rows and isinstance(selection, dict):
        rows = list((selection.get("selection") or {}).get("rows") or [])
    shown: list[str] = st.session_state.get(_SHOWN_IDS) or []
    if rows and 0 <= rows[0] < len(shown):
        st.session_state[_OPEN_RUN] = shown[rows[0]]
    if st.session_state.get(_OPEN_RUN):
        st.rerun(scope="app")


def _open_run_later(run_id: str) -> None:
    # A link of the phone list was clicked (a callback: no rerun from here).
    st.session_state[_OPEN_RUN] = run_id


def _pager(total: int, page_index: int, next_cursor: str | None, cursors: list[str | None]) -> None:
    first = page_index * PAGE_SIZE + 1
    last = min(first + PAGE_SIZE - 1, total)
    prev_col, info_col, next_col = st.columns([1, 4, 1], vertical_alignment="center")
    if prev_col.button("← Newer", disabled=page_index == 0, key="runs_prev"):
        st.session_state[_PAGE] = page_index - 1
        st.rerun(scope="fragment")
    info_col.caption(f"Runs {first}–{last} of {total}")
    if next_col.button("Older →", disabled=not next_cursor, key="runs_next"):
        if len(cursors) <= page_index + 1:
            cursors.append(next_cursor)
        else:
            cursors[page_index + 1] = next_cursor
        st.session_state[_PAGE] = page_index + 1
        st.rerun(scope="fragment")


def runs_table(api: AuditClient, filters: RunFilters, *, live: bool = True) -> None:
    """The runs table, refreshed every few seconds while ``live`` (durations tick)."""
    target = st.session_state.pop(_OPEN_RUN, None)
    if target:
        st.switch_page(routes.RUN.path, query_params={"run": target})
    refresh_s = settings().refresh_s if live else None

    @st.fragment(run_every=refresh_s)
    def table() -> None:
        _note_selected_run()
        with guarded():
            cursors, page_index = _page_state(filters)
            page = api_reads.runs_page(api, filters, limit=PAGE_SIZE, cursor=cursors[page_index])
            if page.total == 0 and filters.is_empty:
                empty_state(api.base_url)
                return
            if not page.runs:
                st.info("No runs match these filters.", icon=":material/filter_alt_off:")
                return
            _show_page(api, page.runs)
            st.caption("Select a row to open the run.")
            _pager(page.total, page_index, page.next_cursor, cursors)

    table()


def _show_page(api: AuditClient, runs: list[Record]) -> None:
    from dashboard.tables import runs_frame, runs_styler  # pandas: only pages with tables

    frame = runs_frame(runs, timezone=st.context.timezone)
    # The ids themselves: the frame shows them with invisible characters as codes.
    st.session_state[_SHOWN_IDS] = [str(run.get("id") or "") for run in runs]
    wide, narrow = responsive_switch("runs")
    with wide:
        st.dataframe(
            runs_styler(frame, runs),
            key="runs_table",
            on_select="rerun",
            selection_mode="single-row",
            hide_index=True,
            column_order=[c for c in frame.columns if c not in ("Run id", "Source")],
            width="stretch",
            height=min(len(frame), 15) * 35 + 38,
            column_config={
                "Status": st.column_config.TextColumn(width=105),
                "Started": st.column_config.TextColumn(
                    width=140, help="In your browser's time zone; the run page shows UTC"
                ),
                "Duration": st.column_config.TextColumn(width=75),
                "Agent": st.column_config.TextColumn(width="small"),
                "Task": st.column_config.TextColumn(width="medium"),
                "Steps": st.column_config.NumberColumn(width=55),
                "Tool calls": st.column_config.NumberColumn(width=70),
                "Tokens": st.column_config.NumberColumn(width=75, format="localized"),
                "Cost": st.column_config.TextColumn(width=70, help="From tokens and model prices"),
                "Error": st.column_config.TextColumn(width="medium"),
            },
        )
    with narrow:
        compact_runs(runs, key="runs_links", on_open=_open_run_later, timezone=st.context.timezone)
