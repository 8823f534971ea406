"""Model prices: overrides, local models at 0, genai-prices, and the cost views in DuckDB."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from collector.pricing import PriceBook, PricesFileError, refresh_model_prices
from collector.schema import migrate
from collector.settings import Settings, SettingsError

NOW = datetime(2026, 1, 1)


def test_overrides_win_then_local_models_are_free_then_genai_prices() -> None:
    book = PriceBook({"gpt-4o": (1.0, 2.0), "ollama/qwen3:8b": (0.5, 0.5)})
    assert book.price("gpt-4o", "openai").source == "override"  # type: ignore[union-attr]
    assert book.price("qwen3:8b", "ollama").input_usd_per_mtok == 0.5  # type: ignore[union-attr]
    local = book.price("llama3.1:8b", "ollama")
    assert local is not None and local.source == "local" and local.output_usd_per_mtok == 0.0
    listed = PriceBook().price("gpt-4o-mini", "openai")
    assert listed is not None and listed.source == "genai-prices"
    assert listed.input_usd_per_mtok > 0 and listed.output_usd_per_mtok > listed.input_usd_per_mtok
    assert PriceBook().price("my-own-finetune-v7", None) is None  # unknown: no price, not 0


def test_the_prices_file_is_read_and_a_bad_one_names_the_entry(tmp_path: Path) -> None:
    good = tmp_path / "prices.toml"
    good.write_text('[models."qwen2.5:32b"]\ninput_per_mtok = 0.2\noutput_per_mtok = 0.6\n')
    price = PriceBook.from_file(good).price("qwen2.5:32b", "vllm")
    assert price is not None and (price.input_usd_per_mtok, price.source) == (0.2, "override")
    bad = tmp_path / "prices.json"
    bad.write_text('{"models": {"x": {"input_per_mtok": -1}}}')
    with pytest.raises(PricesFileError, match=r"x\.input_per_mtok"):
        PriceBook.from_file(bad)
    with pytest.raises(PricesFileError, match="cannot read"):
        PriceBook.from_file(tmp_path / "missing.toml")


def _db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    migrate(con)
    return con


def _run(con: duckdb.DuckDBPyConnection, run_id: str, model: str, provider: str | None) -> None:
    con.execute(
        "INSERT INTO agent_runs (id, status, model_used, provider, input_tokens, output_tokens,"
        " updated_at) VALUES (?, 'completed', ?, ?, 1000000, 100000, ?)",
        [run_id, model, provider, NOW],
    )


def _step(con: duckdb.DuckDBPyConnection, run_id: str, number: int, model: str | None) -> None:
    con.execute(
        "INSERT INTO agent_steps (id, agent_run_id, step_number, action_type, trace_id, span_id,"
        " status, model, input_tokens, output_tokens) VALUES (?, ?, ?, 'think', 't', ?, 'ok',"
        " ?, 500000, 50000)",
        [f"{run_id}-{number}", run_id, number, f"{run_id}-{number}", model],
    )


def test_costs_are_derived_in_sql_per_step_and_run() -> None:
    con = _db()
    _run(con, "paid", "gpt-4o", "openai")
    _step(con, "paid", 1, None)  # the run's model
    _step(con, "paid", 2, "gpt-4o")
    _run(con, "local", "llama3.1:8b", "ollama")
    _run(con, "mystery", "my-own-finetune-v7", None)
    book = PriceBook({"gpt-4o": (2.5, 10.0)})
    assert refresh_model_prices(con, book, now=NOW) == 3
    assert refresh_model_prices(con, book, now=NOW) == 0  # each model priced once
    steps = con.execute("SELECT cost_usd FROM step_costs ORDER BY step_number").fetchall()
    assert steps == [(pytest.approx(1.75),), (pytest.approx(1.75),)]  # 0.5M*2.5 + 0.05M*10
    costs = dict(con.execute("SELECT run_id, cost_usd FROM run_costs").fetchall())
    assert costs["paid"] == pytest.approx(3.5)  # the sum of its steps, not its totals again
    assert costs["local"] == 0.0
    assert costs["mystery"] is None


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("nan.json", b'{"m": {"input_per_mtok": NaN}}', "finite number"),
        ("inf.json", b'{"m": {"output_per_mtok": Infinity}}', "finite number"),
        ("overflow.json", b'{"m": {"input_per_mtok": 1e400}}', "finite number"),
        ("nan.toml", b"[models.m]\ninput_per_mtok = nan\n", "finite number"),
        ("inf.toml", b"[models.m]\noutput_per_mtok = -inf\n", "finite number"),
        ("digits.toml", b"[models.m]\ninput_per_mtok = " + b"9" * 400 + b"\n", "finite number"),
        ("negative.toml", b"[models.m]\ninput_per_mtok = -1\n", "finite number >= 0"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        ("deep.toml", b"x = " + b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        ("latin1.toml", b'[models."caf\xe9"]\ninput_per_mtok = 1\n', "not UTF-8"),
        ("big.json", b" " * (5 * 1024 * 1024) + b"{}", "larger than"),
    ],
)
def test_a_hostile_prices_file_is_refused_naming_why(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PricesFileError, match=reason) as refused:
        PriceBook.from_file(path)
    assert str(path) in str(refused.value) and len(str(refused.value)) < 1000


def test_a_prices_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "prices.json"
    os.mkfifo(fifo)  # opening it to read would wait for a writer
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(PricesFileError, match="not a regular file"):
            PriceBook.from_file(path)


def test_a_hostile_prices_file_stops_start_up_with_the_variable_named(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(b'{"m": {"input_per_mtok": NaN}}')
    with pytest.raises(SettingsError, match="AGENT_AUDIT_PRICES: .*finite number"):
        Settings(db_path=tmp_path / "a.duckdb", prices_path=path).validate()
