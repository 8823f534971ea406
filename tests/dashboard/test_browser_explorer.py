"""The trace explorer in a real headless Chromium: tree and detail, deep links, URL
filters, compare, phone width, dark theme. Screenshots of each page go to
.ci/artifacts/screenshots/.
"""

from __future__ import annotations

import re

import httpx
import pytest

from collector.pricing import PriceBook
from dashboard.formatting import format_cost
from tests.dashboard.agents import send_priced_run
from tests.dashboard.browser_support import Served, screenshot
from tests.dashboard.conftest import api_runs, traced_into
from tests.dashboard.contrast import contrast_ratio
from tests.support import wait_until

pytestmark = pytest.mark.browser


def _tree_row(page: object, text: str) -> object:
    return page.locator(".tree .row", has_text=text).first  # type: ignore[attr-defined]


def _detail(page: object) -> object:
    """The detail pane: the column holding the selected step's heading."""
    return page.locator("[data-testid=stColumn]", has_text="Link to this step").last  # type: ignore[attr-defined]


def test_selecting_a_step_in_the_tree_shows_its_detail(served: Served) -> None:
    page, runs = served.page, served.seeded.runs
    page.goto(f"{served.url}/run?run={runs.completed}")  # type: ignore[attr-defined]
    _tree_row(page, "search_skills").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(rf"run={runs.completed}&step=2$"))  # type: ignore[attr-defined]
    page.get_by_text("Step 2 · Tool call · search_skills").wait_for()  # type: ignore[attr-defined]
    detail = _detail(page)
    detail.get_by_text("Found 3 matching skills", exact=True).first.wait_for()  # type: ignore[attr-defined]
    detail.get_by_text('"docker container"').first.wait_for()  # type: ignore[attr-defined]
    assert "selected" in (_tree_row(page, "search_skills").get_attribute("class") or "")  # type: ignore[attr-defined]
    screenshot(page, "explorer-step-detail.png")

    # An LLM step opens on its conversation: system, user, and the tool call asked for.
    _tree_row(page, "qwen2.5-coder").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"&step=1$"))  # type: ignore[attr-defined]
    page.get_by_text("You are an ops agent.", exact=True).wait_for()  # type: ignore[attr-defined]
    page.get_by_text("asks for tool search_skills").wait_for()  # type: ignore[attr-defined]
    screenshot(page, "explorer-llm-transcript.png")


def test_a_deep_link_opens_the_step_and_a_failed_run_opens_on_its_error(served: Served) -> None:
    page, runs = served.page, served.seeded.runs
    page.goto(f"{served.url}/run?run={runs.failed}&step=1")  # type: ignore[attr-defined]
    page.get_by_text("Step 1 · Tool call · docker_ps").wait_for()  # type: ignore[attr-defined]
    assert "selected" in (_tree_row(page, "docker_ps").get_attribute("class") or "")  # type: ignore[attr-defined]
    _detail(page).get_by_text("homepage  Exited (137)", exact=True).first.wait_for()  # type: ignore[attr-defined]

    page.goto(f"{served.url}/run?run={runs.failed}")  # type: ignore[attr-defined]
    page.get_by_text("Step 2 · Tool call · docker_restart").wait_for()  # type: ignore[attr-defined]
    _detail(page).get_by_text("This step failed:").wait_for()  # type: ignore[attr-defined]
    # The traceback comes from the span's exception event.
    _detail(page).get_by_text(re.compile(r"Traceback \(most recent call last\)")).wait_for()  # type: ignore[attr-defined]
    screenshot(page, "explorer-failed-run.png")


def test_search_within_the_run_and_errors_only_narrow_the_tree(served: Served) -> None:
    from playwright.sync_api import expect

    page, runs = served.page, served.seeded.runs
    page.goto(f"{served.url}/run?run={runs.completed}")  # type: ignore[attr-defined]
    rows = page.locator(".tree .row")  # type: ignore[attr-defined]
    expect(rows).to_have_count(3)
    search = page.get_by_label("Search in this run")  # type: ignore[attr-defined]
    search.fill("homepage")
    search.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("run_on_server")

    page.goto(f"{served.url}/run?run={runs.failed}")  # type: ignore[attr-defined]
    expect(rows).to_have_count(2)
    page.get_by_text("Errors only").click()  # type: ignore[attr-defined]
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("docker_restart")


def test_filters_come_from_the_url_with_plain_values(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page
    page.goto(f"{served.url}/?status=failed")  # type: ignore[attr-defined]
    page.get_by_text("Runs 1–1 of 1").wait_for()  # type: ignore[attr-defined]
    cells = page.locator("[role=gridcell]")  # type: ignore[attr-defined]
    expect(cells.filter(has_text="✗ failed")).to_have_count(1)
    expect(cells.filter(has_text="✓ completed")).to_have_count(0)
    expect(cells.filter(has_text="Restart homepage")).to_have_count(1)
    screenshot(page, "runs-filtered.png")

    page.goto(f"{served.url}/?agent=ops&status=max_steps&status=failed")  # type: ignore[attr-defined]
    page.get_by_text("Runs 1–2 of 2").wait_for()  # type: ignore[attr-defined]


def test_compare_two_runs_side_by_side(served: Served) -> None:
    from playwright.sync_api import expect

    page, runs = served.page, served.seeded.runs
    page.goto(f"{served.url}/run?run={runs.max_steps}")  # type: ignore[attr-defined]
    picker = page.get_by_role("combobox", name="Compare with")  # type: ignore[attr-defined]
    picker.click()
    picker.fill(runs.completed)
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    main = page.locator("[data-testid=stMainBlockContainer]")  # type: ignore[attr-defined]
    link = main.get_by_role("link", name="Compare")
    expect(link).to_have_attribute("href", re.compile(rf"b={runs.completed}$"))
    link.click()
    page.wait_for_url(re.compile(rf"/compare\?a={runs.max_steps}&b={runs.completed}"))  # type: ignore[attr-defined]
    page.get_by_text("Steps, aligned").wait_for()  # type: ignore[attr-defined]
    cells = page.locator("[role=gridcell]")  # type: ignore[attr-defined]
    # Three df calls against think, search_skills, run_on_server: every pair differs.
    expect(cells.filter(has_text="arguments")).not_to_have_count(0)
    page.get_by_text(re.compile(r"What differs \(3 of 3 aligned steps\)")).wait_for()  # type: ignore[attr-defined]
    screenshot(page, "compare.png")


def test_phone_width_list_fits_without_sideways_scroll(served: Served) -> None:
    page = served.page
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    try:
        page.goto(served.url)  # type: ignore[attr-defined]
        page.get_by_role("link", name=re.compile("Restart homepage")).wait_for()  # type: ignore[attr-defined]
        overflow = page.evaluate(  # type: ignore[attr-defined]
            "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 390 px"
        assert not page.locator("[data-testid=stDataFrame]").first.is_visible()  # type: ignore[attr-defined]
        screenshot(page, "runs-phone.png")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1600})  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_tree_is_legible_in_both_themes(served: Served, scheme: str) -> None:
    page, runs = served.page, served.seeded.runs
    page.emulate_media(color_scheme=scheme)  # type: ignore[attr-defined]
    try:
        page.goto(f"{served.url}/run?run={runs.completed}&step=3")  # type: ignore[attr-defined]
        row = _tree_row(page, "run_on_server")
        row.wait_for()  # type: ignore[attr-defined]
        text = row.evaluate("r => getComputedStyle(r.querySelector('.title')).color")  # type: ignore[attr-defined]
        background = page.evaluate(  # type: ignore[attr-defined]
            "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
        )
        assert contrast_ratio(text, background) >= 4.5, (scheme, text, background)
        screenshot(page, f"run-{scheme}.png")
    finally:
        page.emulate_media(color_scheme="light")  # type: ignore[attr-defined]


# Last in this module: it records one more run (the tests above count the sample runs).
def test_annotate_a_run_and_see_its_cost(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page
    traced_into(served.collector)  # an AppTest module may have pointed it elsewhere
    run_id = send_priced_run()
    wait_until(
        lambda: any(
            r["id"] == run_id and r["status"] == "completed"
            for r in api_runs(served.seeded.api_url)
        ),
        timeout_s=20,
        what="the priced run stored",
    )
    price = PriceBook().price("gpt-4o-mini", "openai")
    assert price is not None
    usd = 100_000 * price.input_usd_per_mtok + 20_000 * price.output_usd_per_mtok
    cost = format_cost(usd / 1e6)

    page.goto(f"{served.url}/run?run={run_id}")  # type: ignore[attr-defined]
    expect(page.get_by_test_id("stMetric").filter(has_text="Cost")).to_contain_text(cost)  # type: ignore[attr-defined]
    page.get_by_label("Your name").fill("ana")  # type: ignore[attr-defined]
    page.get_by_label("Your name").press("Enter")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Bad").click()  # type: ignore[attr-defined]
    page.get_by_text(re.compile(r"bad — ana")).wait_for()  # type: ignore[attr-defined]
    screenshot(page, "run-annotated-cost.png")
    stored = httpx.get(f"{served.seeded.api_url}/agent/runs/{run_id}/annotations", timeout=5)
    assert [(a["kind"], a["author"]) for a in stored.json()["annotations"]] == [("bad", "ana")]

    page.goto(f"{served.url}/?annotation=bad")  # type: ignore[attr-defined]
    page.get_by_text("Runs 1–1 of 1").wait_for()  # type: ignore[attr-defined]
    cells = page.locator("[role=gridcell]")  # type: ignore[attr-defined]
    expect(cells.filter(has_text="Summarize invoices")).to_have_count(1)
    expect(cells.filter(has_text=cost)).to_have_count(1)

    page.goto(f"{served.url}/stats?view=costs")  # type: ignore[attr-defined]
    expect(page.get_by_test_id("stMetric").filter(has_text="Total cost")).to_contain_text(cost)  # type: ignore[attr-defined]
    page.get_by_text("Cost by model").wait_for()  # type: ignore[attr-defined]
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for()  # type: ignore[attr-defined]
    screenshot(page, "stats-costs.png")
