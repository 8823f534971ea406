"""Live updates keep what the reader is looking at; the pages in both themes and on a phone.

A module of its own (with its own ``served`` fixture): test_browser.py cancels
the live run, and these tests need it running.
"""

from __future__ import annotations

import re

import pytest

from tests.dashboard.browser_support import Served, screenshot
from tests.dashboard.conftest import step_count
from tests.dashboard.contrast import contrast_ratio
from tests.support import wait_until

pytestmark = pytest.mark.browser


def _tree_row(page: object, text: str) -> object:
    return page.locator(".tree .row", has_text=text).first  # type: ignore[attr-defined]


def _advance_to(served: Served, steps: int) -> None:
    seeded = served.seeded
    while (current := step_count(seeded.api_url, seeded.live_id)) < steps:
        seeded.live.advance()
        wanted = current + 1
        wait_until(
            lambda wanted=wanted: step_count(seeded.api_url, seeded.live_id) >= wanted,  # type: ignore[misc]
            timeout_s=15,
            what=f"the live run at {wanted} steps",
        )


# Whichever element scrolls the page (Streamlit's main section or the document).
_SCROLLER = """(() => [document.querySelector('[data-testid=stMain]'),
    document.querySelector('[data-testid=stAppViewContainer]'), document.scrollingElement]
    .find(e => e && e.scrollHeight > e.clientHeight + 100))()"""


def test_a_live_update_keeps_the_selected_step_and_the_scroll(served: Served) -> None:
    page = served.page
    _advance_to(served, 2)
    page.set_viewport_size({"width": 1400, "height": 700})  # type: ignore[attr-defined]
    try:
        _live_update_keeps_selection(served)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1600})  # type: ignore[attr-defined]


def _live_update_keeps_selection(served: Served) -> None:
    page, seeded = served.page, served.seeded
    page.goto(f"{served.url}/run?run={seeded.live_id}")  # type: ignore[attr-defined]
    _tree_row(page, "check_backup_1").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(rf"run={seeded.live_id}&step=1$"))  # type: ignore[attr-defined]
    page.get_by_text("Step 1 · Tool call · check_backup_1").wait_for()  # type: ignore[attr-defined]
    page.evaluate("window.__sameDocument = true")  # type: ignore[attr-defined]
    scroller = _SCROLLER
    page.evaluate(f"{scroller}.scrollTop = 240")  # type: ignore[attr-defined]
    before = page.evaluate(f"{scroller}.scrollTop")  # type: ignore[attr-defined]
    assert before > 0, "the run page is too short to scroll; the scroll check means nothing"

    seeded.live.advance()
    _tree_row(page, "check_backup_3").wait_for()  # type: ignore[attr-defined]  # the fragment ran

    assert page.evaluate("window.__sameDocument === true")  # type: ignore[attr-defined]
    assert page.url.endswith(f"run={seeded.live_id}&step=1")  # type: ignore[attr-defined]
    assert "selected" in (_tree_row(page, "check_backup_1").get_attribute("class") or "")  # type: ignore[attr-defined]
    page.get_by_text("Step 1 · Tool call · check_backup_1").wait_for()  # type: ignore[attr-defined]
    after = page.evaluate(f"{scroller}.scrollTop")  # type: ignore[attr-defined]
    assert abs(after - before) <= 2, f"the live update moved the page from {before} to {after} px"
    screenshot(page, "run-live-selected-step.png")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_runs_list_is_legible_in_both_themes(served: Served, scheme: str) -> None:
    page = served.page
    page.emulate_media(color_scheme=scheme)  # type: ignore[attr-defined]
    try:
        page.goto(served.url)  # type: ignore[attr-defined]
        page.locator("[role=gridcell]", has_text="✓ completed").first.wait_for(state="attached")  # type: ignore[attr-defined]
        # The caption under the table comes after its cells.
        page.locator("[data-testid=stCaptionContainer]", has_text="Select a row").first.wait_for()  # type: ignore[attr-defined]
        colours = page.evaluate(  # type: ignore[attr-defined]
            """() => {
                const app = document.querySelector('[data-testid=stApp]');
                const caption = [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
                    .find(c => c.textContent.includes('Select a row'));
                return [getComputedStyle(app).backgroundColor,
                        getComputedStyle(document.querySelector('h1')).color,
                        getComputedStyle(caption).color];
            }"""
        )
        background, heading, caption = colours
        dark_background = contrast_ratio(background, "rgb(0, 0, 0)") < contrast_ratio(
            background, "rgb(255, 255, 255)"
        )
        assert dark_background == (scheme == "dark"), (scheme, background)
        assert contrast_ratio(heading, background) >= 4.5, (scheme, heading, background)
        assert contrast_ratio(caption, background) >= 3.0, (scheme, caption, background)
        screenshot(page, f"runs-{scheme}.png")
    finally:
        page.emulate_media(color_scheme="light")  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["", "/live"])
def test_list_pages_fit_a_phone_without_sideways_scroll(served: Served, path: str) -> None:
    page = served.page
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    try:
        page.goto(served.url + path)  # type: ignore[attr-defined]
        page.get_by_role("link", name=re.compile("Watch the backup job")).first.wait_for()  # type: ignore[attr-defined]
        sizes = page.evaluate(  # type: ignore[attr-defined]
            "[document.documentElement.scrollWidth, window.innerWidth,"
            " document.querySelector('[data-testid=stMain]').scrollWidth]"
        )
        document_width, viewport, main_width = sizes
        assert document_width <= viewport, f"the page is {document_width} px wide at {viewport}"
        assert main_width <= viewport, f"the main section scrolls to {main_width} px"
        screenshot(page, f"phone{path.replace('/', '-') or '-runs'}.png")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1600})  # type: ignore[attr-defined]
