"""Model prices: what a million input and output tokens cost, per model and provider.

Prices come, in order, from the prices override file (``AGENT_AUDIT_PRICES``:
self-hosted or negotiated prices), then 0 for models served locally (Ollama,
vLLM, llama.cpp, ... named by ``gen_ai.provider.name``), then the ``genai-prices``
package's offline price table. A model none of them knows has no price: its cost
is unknown (NULL), not zero.

The collector keeps the prices of the models it has seen in the ``model_prices``
table, so costs are derived in SQL (the ``step_costs`` and ``run_costs`` views).
Tiered prices (e.g. above 200k tokens of context) are read at their first tier.
"""

from __future__ import annotations

import json
import logging
import math
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "LOCAL_PROVIDERS",
    "ModelPrice",
    "PriceBook",
    "PricesFileError",
    "refresh_model_prices",
]

logger = logging.getLogger(__name__)

# gen_ai.provider.name values (and common spellings) of servers that run on your own box.
LOCAL_PROVIDERS = frozenset(
    {"ollama", "vllm", "llama.cpp", "llamacpp", "llama_cpp", "lmstudio", "localai", "tgi", "local"}
)
_MTOK = 1_000_000


class PricesFileError(ValueError):
    """The prices override file cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens for one model (at one provider)."""

    model: str
    provider: str  # "" when unknown
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    source: str  # "override", "local" or "genai-prices"


# A price book of every model there is fits in well under this; a file past it (a log
# named by mistake, /dev/zero) is refused, not read whole.
MAX_PRICES_FILE_BYTES = 4 * 1024 * 1024


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PricesFileError(f"{where} must be a number >= 0, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # a TOML integer of hundreds of digits
        number = math.inf
    # NaN and infinities parse (JSON's NaN/Infinity, TOML's nan/inf) but price nothing.
    if not math.isfinite(number) or number < 0:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise PricesFileError(f"{where} must be a finite number >= 0, got {shown}")
    return number


def _read_text(path: Path) -> str:
    try:
        # A FIFO would block start-up until someone writes to it; a device may never end.
        if not stat.S_ISREG(path.stat().st_mode):
            raise PricesFileError(f"prices file {path} is not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_PRICES_FILE_BYTES + 1)
    except OSError as exc:
        raise PricesFileError(f"cannot read prices file {path}: {exc}") from None
    if len(data) > MAX_PRICES_FILE_BYTES:
        raise PricesFileError(
            f"prices file {path} is larger than {MAX_PRICES_FILE_BYTES:,} bytes; "
            "is it the right file?"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PricesFileError(f"prices file {path} is not UTF-8 text: {exc}") from None


def _read_overrides(path: Path) -> dict[str, tuple[float, float]]:
    text = _read_text(path)
    try:
        if path.suffix == ".toml":
            import tomllib  # only for a TOML prices file: an idle collector leaves it out

            raw = tomllib.loads(text)
        else:
            raw = json.loads(text)
    except ValueError as exc:  # TOMLDecodeError is one
        raise PricesFileError(f"prices file {path} is not valid {path.suffix[1:]}: {exc}") from None
    except RecursionError:
        raise PricesFileError(f"prices file {path} nests too deeply") from None
    models = raw.get("models", raw) if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        raise PricesFileError(f"prices file {path}: expected a table of models")
    out: dict[str, tuple[float, float]] = {}
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise PricesFileError(f"prices file {path}: {name!r} must be a table")
        where = f"prices file {path}: {name}"
        out[str(name)] = (
            _number(entry.get("input_per_mtok", 0), f"{where}.input_per_mtok"),
            _number(entry.get("output_per_mtok", 0), f"{where}.output_per_mtok"),
        )
    return out


class PriceBook:
    """Looks up the price of a model; overrides first, then local, then genai-prices."""

    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None) -> None:
        self._overrides = dict(overrides or {})

    @classmethod
    def from_file(cls, path: Path | None) -> PriceBook:
        """Read the override file (TOML or JSON); ``None`` means no overrides."""
        return cls(_read_overrides(path) if path is not None else None)

    def price(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The price of ``model`` served by ``provider``; None when nobody knows it."""
        provider_name = (provider or "").strip()
        for key in (f"{provider_name}/{model}", model):
            if key in self._overrides:
                inp, out = self._overrides[key]
                return ModelPrice(model, provider_name, inp, out, "override")
        if provider_name.lower() in LOCAL_PROVIDERS:
            return ModelPrice(model, provider_name, 0.0, 0.0, "local")
        return _genai_price(model, provider_name)


def _genai_price(model: str, provider: str) -> ModelPrice | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # the package is a dependency; without it, no prices
        return None
    for provider_id in [provider, None] if provider else [None]:
        try:
            per_input = calc_price(Usage(input_tokens=_MTOK), model, provider_id=provider_id)
            per_output = calc_price(Usage(output_tokens=_MTOK), model, provider_id=provider_id)
        except LookupError:
            continue
        except Exception:  # a price table bug must not stop ingest or the API
            logger.debug("genai-prices failed for %s/%s", provider_id, model, exc_info=True)
            return None
        return ModelPrice(
            model,
            provider,
            float(per_input.total_price),
            float(per_output.total_price),
            "genai-prices",
        )
    return None


_UNPRICED_MODELS = """
    SELECT DISTINCT model, provider FROM (
        SELECT coalesce(s.model, r.model_used, r.model_requested) AS model,
               coalesce(r.provider, '') AS provider
        FROM agent_steps s LEFT JOIN agent_runs r ON r.id = s.agent_run_id
        WHERE s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL
        UNION ALL
        SELECT coalesce(model_used, model_requested), coalesce(provider, '') FROM agent_runs
    ) seen
    WHERE model IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM model_prices p WHERE p.model = seen.model AND p.provider = seen.provider
      )
"""


def refresh_model_prices(
    con: duckdb.DuckDBPyConnection, book: PriceBook, *, now: datetime, reprice: bool = False
) -> int:
    """Price every model seen in runs and steps that has no row yet; return rows written.

    Runs inside the writer's transaction. A model nobody can price gets a row with
    NULL prices, so it is not looked up again until ``reprice``.
    """
    if reprice:
        con.execute("DELETE FROM model_prices")
    pairs = con.execute(_UNPRICED_MODELS).fetchall()
    for model, provider in pairs:
        price = book.price(str(model), str(provider or ""))
        con.execute(
            "INSERT INTO model_prices VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                model,
                provider or "",
                price.input_usd_per_mtok if price else None,
                price.output_usd_per_mtok if price else None,
                price.source if price else "unknown",
                now,
            ],
        )
    return len(pairs)
