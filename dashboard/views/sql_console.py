"""The SQL page: one read-only query through the collector's ``POST /sql``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from collector.csv_cells import spreadsheet_text
from dashboard.client import ApiError, AuditClient, SqlResult, Unauthorized
from dashboard.sql_examples import (
    EDITOR_LABEL,
    EXAMPLE_QUERIES,
    EXAMPLES_PLACEHOLDER,
    FIRST_QUERY,
    ROW_LIMIT,
)
from dashboard.tables import sql_frame
from dashboard.views.connection import guarded

__all__ = ["EXAMPLE_QUERIES", "sql_console"]

_QUERY = "sql_query"
_RESULT = "sql_result"
_ERROR = "sql_error"


def _use_example() -> None:
    chosen = st.session_state.get("sql_example")
    if chosen in EXAMPLE_QUERIES:
        st.session_state[_QUERY] = EXAMPLE_QUERIES[chosen]


def _run(api: AuditClient, query: str, max_rows: int) -> None:
    st.session_state.pop(_RESULT, None)
    st.session_state.pop(_ERROR, None)
    try:
        st.session_state[_RESULT] = api.sql(query, max_rows=max_rows)
    except Unauthorized:
        raise
    except ApiError as exc:
        st.session_state[_ERROR] = exc.detail or str(exc)


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as shown, as CSV; no text cell reads as a formula in a spreadsheet."""
    safe = frame.map(lambda v: spreadsheet_text(v) if isinstance(v, str) else v)
    safe.columns = [spreadsheet_text(str(c)) for c in frame.columns]
    return safe.to_csv(index=False).encode("utf-8")


def _show_result(result: SqlResult) -> None:
    frame = sql_frame(result.columns, result.rows)
    elapsed = f" in {result.elapsed_ms:.0f} ms" if result.elapsed_ms is not None else ""
    st.caption(f"{result.row_count:,} rows{elapsed}")
    if result.truncated:
        st.warning(
            f"Only the first {len(result.rows):,} rows are shown.", icon=":material/warning:"
        )
    st.dataframe(frame, hide_index=True, width="stretch")
    st.download_button(
        "Download CSV",
        _csv_bytes(frame),
        file_name="agent-audit-query.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
    )


def sql_console(api: AuditClient) -> None:
    """Query box, examples, results table, plain errors, CSV download."""
    st.session_state.setdefault(_QUERY, FIRST_QUERY)
    st.selectbox(
        "Example queries",
        list(EXAMPLE_QUERIES),
        index=None,
        key="sql_example",
        on_change=_use_example,
        placeholder=EXAMPLES_PLACEHOLDER,
    )
    query = st.text_area(EDITOR_LABEL, key=_QUERY, height=160)
    run_col, rows_col = st.columns([1, 1], vertical_alignment="bottom")
    max_rows = int(
        rows_col.number_input("Row limit", 1, 100_000, ROW_LIMIT, step=100, key="sql_max_rows")
    )
    clicked = run_col.button(
        "Run query", type="primary", icon=":material/play_arrow:", key="sql_run"
    )
    if clicked and (query or "").strip():
        with guarded():
            _run(api, query, max_rows)
    if _ERROR in st.session_state:
        st.error("The collector refused the query:", icon=":material/error:")
        st.code(str(st.session_state[_ERROR]), language=None, wrap_lines=True)
    elif _RESULT in st.session_state:
        _show_result(st.session_state[_RESULT])
