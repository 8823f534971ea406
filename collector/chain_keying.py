"""Which key the chain is keyed with, recorded once in the database (``chain_keying``).

At first start the key is created and the row from which links are keyed is
noted; later starts check the key given is that one. A file chained before keys
existed keeps its plain links up to that row.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from collector.chain import load_head, load_keying
from collector.chain_key import ChainKey, ChainKeyError, load_key

__all__ = ["first_key", "record_keying"]

logger = logging.getLogger(__name__)


def first_key(con: duckdb.DuckDBPyConnection, path: Path) -> ChainKey:
    """A new key, unless this file is already chained with one (then it is missing).

    Raises ChainKeyError."""
    keying = load_keying(con)
    if keying is not None:
        raise ChainKeyError(
            f"the chain key is missing: {path} does not exist but this database is chained "
            f"with key id {keying.key_id}; restore the key file or set AGENT_AUDIT_CHAIN_KEY"
        )
    return load_key(path, create=True)


def record_keying(con: duckdb.DuckDBPyConnection, key: ChainKey) -> None:
    """Note from which chain row links are keyed (once), or check it is the same key."""
    keying = load_keying(con)
    if keying is None:
        head = load_head(con)
        con.execute(
            "INSERT INTO chain_keying VALUES (?, ?, now()::TIMESTAMP)", [head.seq + 1, key.key_id]
        )
        if head.seq:
            logger.warning(
                "chain rows 1..%d are plain sha256 (written before keying); rows from %d on "
                "are keyed with %s",
                head.seq,
                head.seq + 1,
                key.path,
            )
    elif keying.key_id != key.key_id:
        raise ChainKeyError(
            f"the chain key {key.path} (id {key.key_id}) is not the key this database was "
            f"chained with (id {keying.key_id}); point AGENT_AUDIT_CHAIN_KEY at the right file"
        )
