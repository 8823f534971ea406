"""The dashboard in a real headless Chromium, served by ``agent-audit dashboard``.

Runs come from the real instrumentation into a real collector (the ``served``
fixture, tests/dashboard/conftest.py). Screenshots go to .ci/artifacts/screenshots/
(git-ignored) for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from collector.server import start_collector
from collector.settings import Settings
from tests.conftest import CollectorHandle
from tests.dashboard.browser_support import ROW_HEIGHT_PX, Served
from tests.dashboard.browser_support import screenshot as _screenshot
from tests.dashboard.conftest import step_count
from tests.support import wait_until

pytestmark = pytest.mark.browser


def _wait_for_charts(page: object) -> None:
    """Charts draw after the rest of the page; wait so screenshots show them."""
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for()  # type: ignore[attr-defined]


def _wait_for_tree(page: object) -> None:
    """The run page's span tree draws after the rest; wait so screenshots show it."""
    page.locator(".tree .row").first.wait_for()  # type: ignore[attr-defined]


def _click_row(page: object, text: str) -> None:
    """Select the runs-table row whose cells contain ``text`` (the grid is a canvas)."""
    cell = page.locator("[role=gridcell]", has_text=text).first  # type: ignore[attr-defined]
    cell.wait_for(state="attached")
    found = re.fullmatch(r"glide-cell-\d+-(\d+)", cell.get_attribute("id") or "")
    assert found, "the grid's cells are no longer named glide-cell-<column>-<row>"
    row = int(found.group(1))
    box = page.locator("[data-testid=stDataFrame]").first.bounding_box()  # type: ignore[attr-defined]
    assert box is not None
    # The selection checkbox sits in the leftmost column of each row, under one header row.
    page.mouse.click(box["x"] + 15, box["y"] + ROW_HEIGHT_PX * (row + 1) + ROW_HEIGHT_PX / 2)  # type: ignore[attr-defined]


def test_open_a_run_watch_it_grow_and_cancel_it(served: Served) -> None:
    from playwright.sync_api import expect

    page, seeded = served.page, served.seeded
    page.goto(served.url)  # type: ignore[attr-defined]
    for badge in ("✓ completed", "✗ failed", "⚠ max_steps", "⊘ cancelled", "⟳ running"):
        page.locator("[role=gridcell]", has_text=badge).first.wait_for(state="attached")  # type: ignore[attr-defined]
    page.get_by_text("Runs 1–6 of 6").wait_for()  # type: ignore[attr-defined]
    _screenshot(page, "dashboard-runs.png")

    _click_row(page, "Watch the backup job")
    page.wait_for_url(re.compile(rf"/run\?run={seeded.live_id}$"))  # type: ignore[attr-defined]
    steps_before = step_count(seeded.api_url, seeded.live_id)
    page.get_by_text(f"Steps ({steps_before})").wait_for()  # type: ignore[attr-defined]
    page.evaluate("window.__sameDocument = true")  # type: ignore[attr-defined]

    seeded.live.advance()
    new_step = f"check_backup_{steps_before + 1}"
    page.get_by_text(re.compile(rf"Step {steps_before + 1} ✓ tool_call {new_step}")).wait_for()  # type: ignore[attr-defined]
    assert page.evaluate("window.__sameDocument === true")  # type: ignore[attr-defined]
    _wait_for_tree(page)
    _screenshot(page, "dashboard-run-live.png")

    page.get_by_role("button", name="Cancel run").click()  # type: ignore[attr-defined]
    page.get_by_text("⊘ cancelled").first.wait_for()  # type: ignore[attr-defined]
    wait_until(lambda: seeded.live.outcome == "cancelled", timeout_s=10, what="agent cancelled")
    # The page reruns in full once the run ended; the button leaves with the old elements.
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)  # type: ignore[attr-defined]
    _wait_for_tree(page)
    _screenshot(page, "dashboard-run-cancelled.png")


def test_failed_run_shows_which_step_failed_and_why(served: Served) -> None:
    page = served.page
    page.goto(f"{served.url}/run?run={served.seeded.runs.failed}")  # type: ignore[attr-defined]
    page.get_by_text("Failed at step 2: docker_restart").wait_for()  # type: ignore[attr-defined]
    page.get_by_text("permission denied: docker.sock").first.wait_for()  # type: ignore[attr-defined]
    _wait_for_tree(page)
    _screenshot(page, "dashboard-run-failed.png")


def test_stored_markup_stays_inert_in_the_browser(served: Served) -> None:
    page = served.page
    page.goto(f"{served.url}/run?run={served.seeded.runs.hostile}")  # type: ignore[attr-defined]
    page.get_by_text("Final answer").wait_for()  # type: ignore[attr-defined]
    page.get_by_text("Steps (1)").wait_for()  # type: ignore[attr-defined]
    main = page.locator("[data-testid=stMain]")  # type: ignore[attr-defined]
    assert main.locator("img[src='x']").count() == 0
    assert main.locator("script").count() == 0
    assert main.locator("a[href*='example.invalid']").count() == 0
    assert main.locator(".stMarkdownColoredText").count() == 0
    assert main.locator(".katex").count() == 0
    assert page.title() != "pwned"  # type: ignore[attr-defined]
    assert "<img src=x" in main.inner_text()  # shown as text instead


def test_collector_outage_shows_a_banner_and_the_page_recovers(served: Served) -> None:
    from playwright.sync_api import expect

    page, old = served.page, served.collector
    page.goto(served.url)  # type: ignore[attr-defined]
    page.get_by_text("Runs 1–6 of 6").wait_for()  # type: ignore[attr-defined]
    page.evaluate("window.__sameDocument = true")  # type: ignore[attr-defined]
    settings = Settings(db_path=old.db_path, grpc_port=old.grpc_port, http_port=old.http_port)

    old.stop()
    banner = page.get_by_text("Collector unreachable")  # type: ignore[attr-defined]
    banner.first.wait_for()  # the live table's next refresh says so, in place
    restarted = CollectorHandle(start_collector(settings), old.db_path)
    served.collector = restarted
    page.get_by_text("Runs 1–6 of 6").wait_for()  # type: ignore[attr-defined]
    expect(banner).to_have_count(0)
    assert page.evaluate("window.__sameDocument === true")  # type: ignore[attr-defined]

    # Opened while the collector is down: a banner, then the page comes back by itself.
    restarted.stop()
    page.reload()  # type: ignore[attr-defined]
    banner.first.wait_for()
    page.get_by_text("retrying every").wait_for()  # type: ignore[attr-defined]
    served.collector = CollectorHandle(start_collector(settings), old.db_path)
    page.get_by_text("Runs 1–6 of 6").wait_for()  # type: ignore[attr-defined]
    expect(banner).to_have_count(0)


def test_stats_page_draws_its_charts(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page
    page.goto(f"{served.url}/stats")  # type: ignore[attr-defined]
    page.get_by_text("Runs by model").wait_for()  # type: ignore[attr-defined]
    expect(page.locator(".vega-embed")).to_have_count(6)  # type: ignore[attr-defined]
    _wait_for_charts(page)
    _screenshot(page, "dashboard-stats.png")
