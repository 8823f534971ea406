"""REST routes for annotations and costs: ``/agent/runs/{id}/annotations``, ``/agent/costs``.

Mounted by collector.http_app next to collector.api's router; the routes read
and write through the same RunStore.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from collector import annotations as run_annotations
from collector import costs, page_costs
from collector.api_filters import RunFilterParams
from collector.background_read import read_in_background
from collector.pricing import PriceBook, PricesFileError, refresh_model_prices
from collector.query_costs import kept_costs
from collector.run_id_path import run_id_of
from collector.settings import Settings, SettingsError
from collector.store import RunStore, StoreUnavailable

__all__ = ["router", "price_book", "attach_costs", "attach_list_figures", "load_prices"]

logger = logging.getLogger(__name__)

router = APIRouter()


def _store(request: Request) -> RunStore:
    return request.app.state.store  # type: ignore[no-any-return]


def price_book(request: Request) -> PriceBook:
    """The app's price book (from AGENT_AUDIT_PRICES), read once at start-up."""
    book = getattr(request.app.state, "price_book", None)
    return book if isinstance(book, PriceBook) else PriceBook()


def load_prices(store: RunStore, settings: Settings) -> PriceBook:
    """The price book of the prices file, with every seen model (re)priced from it.

    The file was checked by Settings.validate(); one changed since raises SettingsError.
    """
    try:
        book = PriceBook.from_file(settings.prices_path)
    except PricesFileError as exc:
        raise SettingsError(f"AGENT_AUDIT_PRICES: {exc}") from None
    try:
        store.write(lambda con: refresh_model_prices(con, book, now=_now(), reprice=True))
    except StoreUnavailable:
        logger.warning("could not price models at start; they are priced when first read")
    return book


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _ensure_prices_of(request: Request, runs: list[dict[str, Any]]) -> None:
    """Price the models of ``runs`` (rows in hand) that have no price row yet."""
    store = _store(request)
    if store.read(lambda cur: page_costs.has_unpriced_models(cur, runs)):
        book = price_book(request)
        store.write(lambda con: refresh_model_prices(con, book, now=_now()))


def figures_in_read(
    cur: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]], *, page: bool
) -> bool:
    """Attach costs (and, for a list ``page``, step counts) inside the read that fetched ``runs``.

    Every read first waits for what was acknowledged before it to be applied: under
    load that wait is a commit or two, so a route reads once rather than three times.
    False, with nothing attached, when a model has no price row yet: then
    :func:`attach_costs` or :func:`attach_list_figures` prices it and reads again.
    """
    if not runs:
        return True
    if page_costs.has_unpriced_models(cur, runs):
        return False
    if page:
        page_costs.attach_page_figures(cur, runs)
    else:
        for run in runs:
            page_costs.attach_run_page_costs(cur, run)
    return True


def attach_costs(request: Request, runs: list[dict[str, Any]]) -> None:
    """Set ``cost_usd`` on each run (and on each of its ``steps``, all in hand) in place."""
    if not runs:
        return
    _ensure_prices_of(request, runs)
    for run in runs:
        _store(request).read(partial(page_costs.attach_run_page_costs, run=run))


def attach_list_figures(request: Request, runs: list[dict[str, Any]]) -> None:
    """Set ``cost_usd``, ``tool_calls`` and ``llm_calls`` on each run of a list page in place."""
    if not runs:
        return
    _ensure_prices_of(request, runs)
    _store(request).read(partial(page_costs.attach_page_figures, runs=runs))


class AnnotationIn(BaseModel):
    """Body of ``POST /agent/runs/{run_id}/annotations``."""

    kind: Literal["good", "bad", "label", "note"] = Field(description="What the mark says.")
    value: str | None = Field(
        default=None,
        max_length=run_annotations.MAX_VALUE_CHARS,
        description="The label or the note (required for those two).",
    )
    author: str = Field(min_length=1, max_length=200, description="Who annotates.")


@router.post(
    "/agent/runs/{run_id}/annotations",
    status_code=201,
    summary="Annotate a run (good, bad, a label or a note)",
    description=(
        "Stored with its author and time; never changed afterwards. 404 unknown run; "
        "409 when the run has 1,000 annotations already."
    ),
    tags=["annotations"],
    responses={
        400: {"description": "Not a valid annotation"},
        404: {"description": "Unknown"},
        409: {"description": "The run has the most annotations a run takes"},
    },
)
def add_annotation_route(request: Request, run_id: str, body: AnnotationIn) -> dict[str, Any]:
    run_id = run_id_of(request, run_id)
    try:
        return _store(request).write(  # type: ignore[no-any-return]
            lambda con: run_annotations.add_annotation(
                con, run_id, kind=body.kind, value=body.value, author=body.author, now=_now()
            )
        )
    except run_annotations.BadAnnotation as exc:
        raise HTTPException(400, str(exc)) from None
    except run_annotations.RunFullyAnnotated as exc:
        raise HTTPException(409, str(exc)) from None
    except KeyError:
        raise HTTPException(404, f"run {run_id!r} not found") from None
    except StoreUnavailable as exc:
        raise HTTPException(503, f"annotation not stored, retry: {exc}") from None


@router.get(
    "/agent/runs/{run_id}/annotations",
    summary="A run's annotations, oldest first",
    description="404 when no run has this id (and none of its annotations is kept).",
    tags=["annotations"],
    responses={404: {"description": "Unknown run"}},
)
def list_annotations_route(request: Request, run_id: str) -> dict[str, Any]:
    run_id = run_id_of(request, run_id)

    def read(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]] | None:
        rows = run_annotations.list_annotations(cur, [run_id])
        known = rows or cur.execute("SELECT 1 FROM agent_runs WHERE id = ?", [run_id]).fetchone()
        return rows if known else None

    rows = _store(request).read(read)
    if rows is None:
        raise HTTPException(404, f"run {run_id!r} not found")
    return {"annotations": rows}


@router.get(
    "/agent/costs",
    summary="Cost of the matching runs: total, per time bucket and model, by model, by agent",
    description=(
        "Tokens times the model's price (the prices file, 0 for local models, else the "
        "genai-prices table). Runs whose model has no known price are counted in "
        "`unpriced_runs`, not in the total. Takes the run filters of `GET /agent/runs`."
    ),
    tags=["costs"],
)
def costs_route(
    request: Request,
    filters: RunFilterParams,
    bucket: Annotated[Literal["hour", "day", "week", "month"], Query()] = "day",
) -> dict[str, Any]:
    store = _store(request)
    checked = filters.to_filters()
    costs.ensure_prices(store.read, store.write, price_book(request), now=_now())
    background = partial(read_in_background, store)
    return store.read(  # type: ignore[no-any-return]
        lambda cur: kept_costs(cur, checked, bucket=bucket, background=background)
    )
