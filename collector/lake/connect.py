"""Open DuckDB connections with the DuckLake and Postgres extensions, offline.

The extensions come from the ``duckdb-extension-*`` wheels pinned beside duckdb;
nothing is downloaded at run time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from collector.errors import CollectorError

__all__ = ["LakeError", "attach_lake", "lake_connection", "LAKE_ALIAS"]

LAKE_ALIAS = "lake"
_LOADED = False
# One install at a time: every store of the process installs through DuckDB's default
# connection, one object, which DuckDB wants used by one thread at a time.
_INSTALLING = threading.Lock()


class LakeError(CollectorError):
    """The lake cannot be opened or written; the message says why."""


def _install_extensions() -> None:
    with _INSTALLING:
        _install_extensions_once()


def _install_extensions_once() -> None:
    global _LOADED
    if _LOADED:
        return
    try:
        from duckdb_extensions import import_extension
    except ImportError as exc:
        raise LakeError(
            "the DuckLake store needs the packages duckdb-extensions, "
            "duckdb-extension-ducklake and duckdb-extension-postgres"
        ) from exc
    import_extension("ducklake")
    import_extension("postgres")
    _LOADED = True


def lake_connection(memory_limit_mb: int = 256) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with ducklake and postgres loaded."""
    _install_extensions()
    con = duckdb.connect()
    con.execute("LOAD ducklake")
    con.execute("LOAD postgres")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
    return con


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def attach_lake(
    con: duckdb.DuckDBPyConnection,
    catalog_dsn: str,
    data_path: Path | str,
    *,
    alias: str = LAKE_ALIAS,
    inline_row_limit: int | None = None,
) -> None:
    """ATTACH the lake whose catalog is the Postgres database ``catalog_dsn``.

    ``catalog_dsn`` is libpq's ``key=value`` form or a ``postgres://`` URL;
    ``data_path`` is where the Parquet files live (a shared directory or an
    object-store prefix).
    """
    data = str(data_path)
    if "://" not in data and not data.endswith("/"):
        data += "/"
    options = [f"DATA_PATH {_quote(data)}"]
    if inline_row_limit is not None:
        options.append(f"DATA_INLINING_ROW_LIMIT {int(inline_row_limit)}")
    try:
        con.execute(
            f"ATTACH {_quote('ducklake:postgres:' + catalog_dsn)} AS {alias} ({', '.join(options)})"
        )
    except duckdb.Error as exc:
        raise LakeError(f"cannot attach the lake (catalog {catalog_dsn!r}): {exc}") from None
