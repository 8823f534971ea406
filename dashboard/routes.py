"""The dashboard's pages: file paths (relative to app.py), titles and URL paths."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAGES", "LIVE", "RUN", "RUNS", "SQL", "STATS", "PageSpec"]


@dataclass(frozen=True)
class PageSpec:
    """One page of the app, as app.py registers it and as views link to it."""

    path: str  # relative to app.py; st.switch_page and st.page_link accept it
    title: str
    url_path: str
    icon: str


RUNS = PageSpec("pages/runs.py", "Runs", "runs", ":material/list:")
RUN = PageSpec("pages/run.py", "Run", "run", ":material/account_tree:")
LIVE = PageSpec("pages/live.py", "Live", "live", ":material/sensors:")
STATS = PageSpec("pages/stats.py", "Stats", "stats", ":material/bar_chart:")
SQL = PageSpec("pages/sql.py", "SQL", "sql", ":material/database:")

PAGES: tuple[PageSpec, ...] = (RUNS, RUN, LIVE, STATS, SQL)
