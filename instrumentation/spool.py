"""An on-disk spool: a directory of OTLP requests waiting to be sent, bounded in bytes.

Each file is one OTLP/protobuf ``ExportTraceServiceRequest``, written durably
(fsync, then an atomic rename) and named so that names sort oldest first. Two
ways to add one: :meth:`SpanSpool.put` makes room by dropping the oldest files
(a collector down for long), :meth:`SpanSpool.put_if_room` refuses instead (a
burst the agent's queue could not hold: the caller then waits, see
:mod:`instrumentation.batching`). :mod:`instrumentation.spooling` sends the
files; :mod:`instrumentation.senders` is how.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from itertools import count
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["SpanSpool", "encode_batch", "split_request"]

logger = logging.getLogger(__name__)

_SUFFIX = ".otlp"
_PARTIAL_SUFFIX = ".tmp"  # a file being written; renamed to its .otlp name once whole
# A partial file older than this is a dead process's: a write takes milliseconds.
STALE_PARTIAL_S = 600.0


def encode_batch(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/protobuf ``ExportTraceServiceRequest`` bytes of ``spans``."""
    return bytes(encode_spans(spans).SerializeToString())


def split_request(payload: bytes) -> tuple[bytes, bytes] | None:
    """An ``ExportTraceServiceRequest`` as two holding half its spans each, every span
    under its own resource and scope; None when it holds fewer than two spans (or
    does not parse)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(payload)
    except DecodeError:
        return None  # not a request: nothing to split
    total = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if total < 2:
        return None
    halves = (ExportTraceServiceRequest(), ExportTraceServiceRequest())
    placed = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                half = halves[0] if placed < total // 2 else halves[1]
                placed += 1
                last = half.resource_spans[-1] if half.resource_spans else None
                if last is None or last.resource != resource_spans.resource:
                    last = half.resource_spans.add()
                    last.resource.CopyFrom(resource_spans.resource)
                    last.schema_url = resource_spans.schema_url
                scope = last.scope_spans[-1] if last.scope_spans else None
                if scope is None or scope.scope != scope_spans.scope:
                    scope = last.scope_spans.add()
                    scope.scope.CopyFrom(scope_spans.scope)
                    scope.schema_url = scope_spans.schema_url
                scope.spans.add().CopyFrom(span)
    return halves[0].SerializeToString(), halves[1].SerializeToString()


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
        self._remove_stale_partials()

    def _remove_stale_partials(self) -> None:
        """Delete half-written files a killed process left behind.

        They are never sent and do not count towards the bound, so they would pile
        up crash after crash. A recent one may be another live process's write.
        """
        now = time.time()
        try:
            partials = [p for p in self.directory.iterdir() if p.name.endswith(_PARTIAL_SUFFIX)]
        except OSError:
            return
        for path in partials:
            try:
                stale = now - path.stat().st_mtime > STALE_PARTIAL_S
            except OSError:
                continue
            if stale:
                _unlink(path)

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
        with self._lock:
            path = self._write_locked(payload)
            if path is not None:
                self._enforce_bound(keep=path)
        return path

    def put_if_room(self, payload: bytes) -> Path | None:
        """Write one request durably if the spool stays within its bound; None otherwise.

        Nothing already spooled is dropped to make room.
        """
        with self._lock:
            if self.total_bytes() + len(payload) > self.max_bytes:
                return None
            return self._write_locked(payload)

    def _write_locked(self, payload: bytes) -> Path | None:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):08d}{_SUFFIX}"
        path = self.directory / name
        temporary = self.directory / f".{name}{_PARTIAL_SUFFIX}"
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
