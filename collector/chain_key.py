"""The secret that keys the hash chain, kept outside the database.

With a plain sha256 chain, anyone who can write the DuckDB file can edit a row
and recompute every later link. Keyed links (HMAC-SHA256) cannot be recomputed
without this key, which lives in its own file (``<db>.key`` unless
``AGENT_AUDIT_CHAIN_KEY`` names another place, ideally one the database's
writers cannot read), created with mode 0600 at first start. A key file
readable by group or others is refused: a key anyone can read proves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from collector.errors import CollectorError

__all__ = [
    "ChainKey",
    "ChainKeyError",
    "default_key_path",
    "key_for_process",
    "key_next_to",
    "load_key",
]

_KEY_BYTES = 32


class ChainKeyError(CollectorError, RuntimeError):
    """The chain key is missing, unreadable, malformed or too widely readable."""


@dataclass(frozen=True)
class ChainKey:
    """The chain's HMAC key and where it came from."""

    secret: bytes
    path: Path

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key, stored in the database to catch a wrong key."""
        return hashlib.sha256(b"agent-audit chain key id\0" + self.secret).hexdigest()[:16]

    def mac(self, data: bytes) -> bytes:
        return hmac.new(self.secret, data, hashlib.sha256).digest()


def key_for_process(db_path: Path) -> ChainKey:
    """A key that lives and dies with this process: an in-memory store's chain ends with it,
    so nothing is written beside it (``:memory:.key`` in the working directory)."""
    return ChainKey(secret=secrets.token_bytes(_KEY_BYTES), path=db_path)


def default_key_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def load_key(path: Path, *, create: bool) -> ChainKey:
    """Read the key at ``path``; with ``create``, make a new one there if it is missing."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created meanwhile by another process: read that one
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except FileNotFoundError:
        raise ChainKeyError(
            f"chain key {path} does not exist; the collector creates it at first start "
            "(set AGENT_AUDIT_CHAIN_KEY if it lives elsewhere)"
        ) from None
    except OSError as exc:
        raise ChainKeyError(f"cannot read chain key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ChainKeyError(
            f"chain key {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ChainKeyError(f"chain key {path} is not hex") from None
    if len(secret) < 16:
        raise ChainKeyError(f"chain key {path} is shorter than 16 bytes")
    return ChainKey(secret=secret, path=path)


def key_next_to(db_path: Path) -> ChainKey | None:
    """The key at ``<db>.key`` when there is one (offline checks of a stopped collector)."""
    path = default_key_path(db_path)
    return load_key(path, create=False) if path.exists() else None
