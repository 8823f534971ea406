"""An on-disk spool: spans that could not be exported wait in files until the collector is back.

:class:`SpoolingExporter` wraps the OTLP exporter. When an export fails, the
batch is encoded as an OTLP ``ExportTraceServiceRequest`` (the SDK's own
encoder) and written to a file in the spool directory; from then on new batches
go straight to the spool, in order, so the agent's batch thread never waits on
a dead endpoint. A daemon thread replays the files oldest first, sending the
raw protobuf over gRPC or HTTP, and deletes each file only after the collector
acknowledged it. When the spool is empty again, exports go direct.

The spool is bounded in bytes: when full, the oldest files are dropped with a
warning. Files left by an earlier process are replayed at start. A file whose
send succeeded but could not be deleted (the process died in between) is sent
again: harmless, since the collector upserts spans by id.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from instrumentation.forking import after_fork_in_child

__all__ = [
    "GRPC_RECONNECT_OPTIONS",
    "GrpcSender",
    "HttpSender",
    "SendError",
    "SpanSpool",
    "SpoolingExporter",
    "encode_batch",
]

logger = logging.getLogger(__name__)

_SUFFIX = ".otlp"
_GRPC_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# gRPC waits up to 120 s between reconnect attempts by default, failing calls at
# once meanwhile: a collector that is back would stay unused for minutes.
GRPC_RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 5000),
)
# OTLP/HTTP retryable answers (OTLP spec, "Retryable Response Codes"), plus the
# auth refusals: a wrong token is fixed by an operator, the spans should wait.
_HTTP_KEEP_CODES = frozenset({401, 403, 408, 429, 502, 503, 504})


def encode_batch(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/protobuf ``ExportTraceServiceRequest`` bytes of ``spans``."""
    return bytes(encode_spans(spans).SerializeToString())


class SendError(Exception):
    """A spooled request was not accepted; ``retryable`` says whether to keep the file."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


class SpanSpool:
    """A directory of OTLP requests, oldest first, at most ``max_bytes`` in total."""

    def __init__(self, directory: Path, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_bytes <= 0:
            raise ValueError("spool max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ValueError(f"span spool directory {self.directory}: {exc}") from exc
        if not os.access(self.directory, os.W_OK):
            raise ValueError(f"span spool directory {self.directory} is not writable")
        self._sequence = count()
        self._lock = threading.Lock()
        self._dropped_files = 0

    def pending(self) -> list[Path]:
        """Spooled files, oldest first."""
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except OSError:
            logger.debug("cannot list spool %s", self.directory, exc_info=True)
            return []

    def total_bytes(self) -> int:
        """Bytes held by spooled files."""
        return sum(_size(path) for path in self.pending())

    def put(self, payload: bytes) -> Path | None:
        """Write one request durably; drop the oldest files if the spool is over its bound."""
        if len(payload) > self.max_bytes:
            logger.warning(
                "a span batch of %d bytes exceeds the spool bound (%d bytes); dropped",
                len(payload),
                self.max_bytes,
            )
            return None
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):08d}{_SUFFIX}"
        path = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        with self._lock:
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            except OSError as exc:
                logger.warning("cannot write to span spool %s: %s; batch dropped", path, exc)
                _unlink(temporary)
                return None
            self._enforce_bound(keep=path)
        return path

    def remove(self, path: Path) -> None:
        """Delete a file once its request was acknowledged."""
        _unlink(path)

    def _enforce_bound(self, *, keep: Path) -> None:
        files = [(path, _size(path)) for path in self.pending()]
        total = sum(size for _, size in files)
        dropped = 0
        for path, size in files:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            _unlink(path)
            total -= size
            dropped += 1
        if dropped:
            if self._dropped_files == 0:
                logger.warning(
                    "span spool %s is full (%d bytes): dropping the oldest batches",
                    self.directory,
                    self.max_bytes,
                )
            self._dropped_files += dropped


class HttpSender:
    """POSTs raw OTLP protobuf to an OTLP/HTTP traces URL (stdlib only)."""

    def __init__(
        self, url: str, *, headers: Mapping[str, str] | None = None, timeout_s: float = 5.0
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"OTLP/HTTP endpoint must be http(s)://..., got {url!r}")
        self.url = url
        self._headers = {**(headers or {}), "content-type": "application/x-protobuf"}
        self._timeout_s = timeout_s

    def __call__(self, payload: bytes) -> None:
        """Send one request; raise :class:`SendError` unless it was accepted."""
        # The scheme was checked in __init__ (http or https only).
        request = urllib.request.Request(  # noqa: S310
            self.url, data=payload, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            retryable = exc.code in _HTTP_KEEP_CODES or exc.code >= 500
            raise SendError(f"HTTP {exc.code} from {self.url}", retryable=retryable) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SendError(f"{self.url} unreachable: {exc}", retryable=True) from exc

    def close(self) -> None:
        """Nothing to release: each send opens its own connection."""


class GrpcSender:
    """Sends raw OTLP protobuf to ``TraceService/Export`` over gRPC."""

    def __init__(
        self, endpoint: str, *, headers: Mapping[str, str] | None = None, timeout_s: float = 5.0
    ) -> None:
        import grpc  # the gRPC exporter's own dependency; only needed for this protocol

        parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        target = parsed.netloc or endpoint
        if parsed.scheme == "https":
            self._channel = grpc.secure_channel(
                target, grpc.ssl_channel_credentials(), options=GRPC_RECONNECT_OPTIONS
            )
        else:
            self._channel = grpc.insecure_channel(target, options=GRPC_RECONNECT_OPTIONS)
        # No serializers: the payload already is the encoded request.
        self._export = self._channel.unary_unary(_GRPC_EXPORT_METHOD)
        self._metadata = tuple((key.lower(), value) for key, value in (headers or {}).items())
        self._timeout_s = timeout_s
        self._grpc: Any = grpc
        self.endpoint = endpoint

    def __call__(self, payload: bytes) -> None:
        """Send one request; raise :class:`SendError` unless it was accepted."""
        codes = self._grpc.StatusCode
        try:
            self._export(payload, metadata=self._metadata, timeout=self._timeout_s)
        except self._grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            retryable = code not in (
                codes.INVALID_ARGUMENT,
                codes.UNIMPLEMENTED,
                codes.FAILED_PRECONDITION,
                codes.INTERNAL,
            )
            raise SendError(f"gRPC {code} from {self.endpoint}", retryable=retryable) from exc

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class SpoolingExporter(SpanExporter):
    """Wraps an exporter: failed batches go to a :class:`SpanSpool` and are replayed."""

    def __init__(
        self,
        inner: SpanExporter,
        spool: SpanSpool,
        send: Callable[[bytes], None],
        *,
        target: str,
        retry_interval_s: float = 1.0,
        max_retry_interval_s: float = 10.0,
    ) -> None:
        self._inner = inner
        self.spool = spool
        self._send = send
        self._target = target
        self._retry_interval_s = retry_interval_s
        self._max_retry_interval_s = max(max_retry_interval_s, retry_interval_s)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._spooling = False
        self._closed = False
        self._aborted = False
        self._inner_shut = False
        self._replayer: threading.Thread | None = None
        if spool.pending():  # left by an earlier process
            with self._lock:
                self._start_spooling_locked(announce=False)
        after_fork_in_child(self._reset_after_fork)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._replayer = None
        if self._spooling:
            with self._lock:
                self._start_spooling_locked(announce=False)

    @property
    def spooling(self) -> bool:
        """True while batches wait on disk (new batches then go to the spool too)."""
        return self._spooling

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export direct when the collector answers, else spool to disk."""
        if not self._spooling and not self._closed:
            try:
                if self._inner.export(spans) is SpanExportResult.SUCCESS:
                    return SpanExportResult.SUCCESS
            except Exception:
                logger.debug("span exporter raised", exc_info=True)
        try:
            payload = encode_batch(spans)
        except Exception:
            logger.warning("could not encode %d spans for the spool; dropped", len(spans))
            return SpanExportResult.FAILURE
        with self._lock:
            written = self.spool.put(payload)
            if written is not None:
                self._start_spooling_locked(announce=True)
        return SpanExportResult.SUCCESS if written is not None else SpanExportResult.FAILURE

    def replay_once(self) -> bool:
        """Send spooled files oldest first; False at a retryable failure, True when all went."""
        for path in self.spool.pending():
            if self._aborted:
                return False
            try:
                payload = path.read_bytes()
            except FileNotFoundError:
                continue  # another process replayed it
            except OSError as exc:
                logger.warning("unreadable spool file %s (%s); dropped", path, exc)
                self.spool.remove(path)
                continue
            try:
                self._send(payload)
            except SendError as exc:
                if exc.retryable:
                    logger.debug("replay of %s deferred: %s", path.name, exc)
                    return False
                logger.warning("collector refused spooled batch %s (%s); dropped", path.name, exc)
            self.spool.remove(path)
        return True

    def abort(self) -> None:
        """Stop trying the collector: later batches go straight to the spool."""
        self._aborted = True
        self._closed = True
        self._shutdown_inner()

    def shutdown(self) -> None:
        """Stop replaying and shut the wrapped exporter down; unsent files stay for later.

        Unless aborted, one last replay pass runs first (it stops at the first
        failure, so a collector that is down costs one send timeout at most).
        """
        self._closed = True
        self._stopped.set()
        if self._spooling and not self._aborted:
            try:
                self.replay_once()
            except Exception:
                logger.debug("final spool replay failed", exc_info=True)
        self._shutdown_inner()
        closer = getattr(self._send, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:
                logger.debug("closing spool sender failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter (spooled files are flushed to disk already)."""
        return self._inner.force_flush(timeout_millis)

    def _shutdown_inner(self) -> None:
        with self._lock:
            if self._inner_shut:
                return
            self._inner_shut = True
        try:
            self._inner.shutdown()
        except Exception:
            logger.debug("exporter shutdown failed", exc_info=True)

    def _start_spooling_locked(self, *, announce: bool) -> None:
        if not self._spooling and announce:
            logger.warning(
                "cannot export spans to %s; spooling them to %s until it answers again",
                self._target,
                self.spool.directory,
            )
        self._spooling = True
        if self._replayer is None and not self._stopped.is_set():
            self._replayer = threading.Thread(
                target=self._replay_loop, name="agent-audit-spool-replay", daemon=True
            )
            self._replayer.start()

    def _replay_loop(self) -> None:
        delay = self._retry_interval_s
        while not self._stopped.wait(delay):
            try:
                drained = self.replay_once()
            except Exception:  # thread boundary
                logger.debug("spool replay failed", exc_info=True)
                drained = False
            if not drained:
                delay = min(delay * 2, self._max_retry_interval_s)
                continue
            delay = self._retry_interval_s
            with self._lock:
                if not self.spool.pending():
                    self._spooling = False
                    self._replayer = None
                    logger.info("span export to %s works again; spool replayed", self._target)
                    return


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        logger.debug("cannot delete %s", path, exc_info=True)
