"""Streamlit's frontend files served from memory, gzipped once.

A new tab loads ~60 of Streamlit's JavaScript and CSS files (2.8 MB) before it
can open its websocket. Streamlit serves them from disk through Starlette's
``FileResponse`` (a thread hop per 64 kB chunk) and never compresses them, because
compressing on every request would cost more CPU than it saves (its own comment,
``starlette_gzip_middleware.py``). This ASGI middleware answers ``GET /static/...``
itself: each file is read once, gzipped once when it is text, and kept in memory;
every later request is one send of the bytes it already has. The headers are
Streamlit's (the names are content-hashed, so ``immutable`` for a year), plus an
``ETag`` per encoding and ``Vary: Accept-Encoding``.

Anything it does not recognise (another path, a name with unusual characters,
a missing file, a range request) goes on to Streamlit unchanged, so Streamlit's
own checks and answers still apply. Memory: at most the size of Streamlit's
static folder plus the gzipped copies (a page load touches ~3 MB of it).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

__all__ = ["Asset", "StaticAssets", "load_asset", "streamlit_static_dir"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/static/"
# Plain names only: anything else (``..``, ``//``, escapes) is left to Streamlit's checks.
_SAFE_PATH = re.compile(r"^static/(?:[A-Za-z0-9_][A-Za-z0-9_.\-]*/)*[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_NO_CACHE = re.compile(r"\.html$")  # Streamlit's rule: HTML is revalidated, the rest immutable
IMMUTABLE = "public, immutable, max-age=31536000"
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_GZIP_BYTES = 1024
GZIP_LEVEL = 6
_INDEX_ASSET = re.compile(r"""(?:src|href)="\./(static/[^"?#]+)\"""")


def streamlit_static_dir() -> Path:
    """The folder of Streamlit's built frontend (``streamlit/static``)."""
    import streamlit

    return Path(streamlit.__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Asset:
    """One file as it is sent: its bytes, its gzipped bytes (if smaller), headers."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str  # of the plain bytes; the gzipped ones get a "-gzip" variant
    last_modified: str
    cache_control: str

    def headers(self, *, gzipped: bool) -> list[tuple[bytes, bytes]]:
        body = self.gzipped if gzipped and self.gzipped is not None else self.body
        headers = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", self.cache_control.encode()),
            (b"etag", self.etag_for(gzipped=gzipped).encode()),
            (b"last-modified", self.last_modified.encode()),
            (b"vary", b"Accept-Encoding"),
        ]
        if gzipped and self.gzipped is not None:
            headers.append((b"content-encoding", b"gzip"))
        return headers

    def etag_for(self, *, gzipped: bool) -> str:
        if gzipped and self.gzipped is not None:
            return self.etag[:-1] + '-gzip"'
        return self.etag


def load_asset(path: Path, relative: str) -> Asset:
    """Read (and gzip, when it is text and it pays) one file."""
    body = path.read_bytes()
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    gzipped = None
    if len(body) >= MIN_GZIP_BYTES and content_type.startswith(_COMPRESSIBLE):
        packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    return Asset(
        body=body,
        gzipped=gzipped,
        content_type=content_type,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        last_modified=formatdate(path.stat().st_mtime, usegmt=True),
        cache_control="no-cache" if _NO_CACHE.search(relative) else IMMUTABLE,
    )


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept-encoding":
            codings = [part.split(b";")[0].strip().lower() for part in value.split(b",")]
            return b"gzip" in codings
    return False


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return bytes(value)
    return None


class StaticAssets:
    """Answer ``GET``/``HEAD /static/<file>`` from memory; pass everything else on."""

    def __init__(self, app: ASGIApp, directory: Path | None = None, preload: bool = True) -> None:
        self.app = app
        self.directory = (directory or streamlit_static_dir()).resolve()
        self._assets: dict[str, Asset | None] = {}
        self._lock = threading.Lock()
        if preload:
            # The files every first page load asks for, read and gzipped before anyone asks.
            threading.Thread(target=self._preload, name="static-preload", daemon=True).start()

    def _preload(self) -> None:
        try:
            index = (self.directory / "index.html").read_text(encoding="utf-8")
        except OSError:
            return
        for relative in dict.fromkeys(_INDEX_ASSET.findall(index)):
            self._asset(relative)

    def _asset(self, relative: str) -> Asset | None:
        """The cached asset, reading it on first use; None when it is not a plain file here."""
        with self._lock:
            if relative in self._assets:
                return self._assets[relative]
        path = (self.directory / relative).resolve()
        asset: Asset | None = None
        if path.is_relative_to(self.directory) and path.is_file():
            try:
                asset = load_asset(path, relative)
            except OSError:
                asset = None
        with self._lock:
            self._assets.setdefault(relative, asset)
            return self._assets[relative]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path") or "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or not path.startswith(PREFIX)
            or not _SAFE_PATH.match(path[1:])
            or _header(scope, b"range") is not None
        ):
            await self.app(scope, receive, send)
            return
        relative = path[1:]
        asset = self._assets.get(relative)
        if asset is None and relative not in self._assets:
            # Read (and gzip) off the event loop; once per file.
            asset = await asyncio.get_running_loop().run_in_executor(None, self._asset, relative)
        if asset is None:
            await self.app(scope, receive, send)
            return
        gzipped = asset.gzipped is not None and _accepts_gzip(scope)
        etag = asset.etag_for(gzipped=gzipped)
        if_none_match = _header(scope, b"if-none-match")
        if if_none_match is not None and etag.encode() in (
            tag.strip() for tag in if_none_match.split(b",")
        ):
            headers = [h for h in asset.headers(gzipped=gzipped) if h[0] != b"content-length"]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = asset.gzipped if gzipped and asset.gzipped is not None else asset.body
        headers = asset.headers(gzipped=gzipped)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
