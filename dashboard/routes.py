"""The dashboard's pages: file paths (relative to app.py), titles and URL paths."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAGES", "COMPARE", "LIVE", "RUN", "RUNS", "SQL", "STATS", "PageSpec"]


@dataclass(frozen=True)
class PageSpec:
    """One page of the app, as app.py registers it and as views link to it."""

    path: str  # relative to app.py; st.switch_page and st.page_link accept it
    title: str
    url_path: str
    icon: str


RUNS = PageSpec("screens/runs.py", "Runs", "runs", ":material/list:")
RUN = PageSpec("screens/run.py", "Run", "run", ":material/account_tree:")
LIVE = PageSpec("screens/live.py", "Live", "live", ":material/sensors:")
STATS = PageSpec("screens/stats.py", "Stats", "stats", ":material/bar_chart:")
SQL = PageSpec("screens/sql.py", "SQL", "sql", ":material/database:")
COMPARE = PageSpec("screens/compare.py", "Compare", "compare", ":material/compare_arrows:")

PAGES: tuple[PageSpec, ...] = (RUNS, RUN, COMPARE, LIVE, STATS, SQL)
