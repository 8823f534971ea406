"""Import the page modules (pandas, Altair, ...) once, in the background, at start.

A page imports what it draws with; the first visitor of the stats page would
otherwise wait for Altair and pandas to load (0.7-2 s on a busy machine). The
first page drawn starts this thread; Python's import lock makes a page that
needs a module meanwhile wait for the same import, never run it twice.

The imported modules live as long as the process, so they are then moved out
of the garbage collector's sight (``gc.freeze``): a full collection (Streamlit
runs one after each script run unless ``runner.postScriptGC`` is off) no longer
walks their hundreds of thousands of objects.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading

__all__ = ["MODULES", "import_in_background"]

logger = logging.getLogger(__name__)

MODULES = (
    "pandas",
    "altair",
    "dashboard.tables",
    "dashboard.charts",
    "dashboard.views.runs",
    "dashboard.views.run_detail",
    "dashboard.views.compare_runs",
    "dashboard.views.live",
    "dashboard.views.stats",
    "dashboard.views.cost_stats",
    "dashboard.views.sql_console",
)

_started = threading.Event()


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # a page reports its own import error when it is opened
            logger.debug("warm-up import of %s failed", name, exc_info=True)
    gc.collect()
    gc.freeze()


def import_in_background() -> None:
    """Start the imports once per process; later calls do nothing."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_import_all, name="dashboard-warmup", daemon=True).start()
