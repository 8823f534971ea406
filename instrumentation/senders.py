"""Senders of raw OTLP/protobuf requests (spool replays): gRPC or HTTP, no re-encoding."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["GRPC_RECONNECT_OPTIONS", "GrpcSender", "HttpSender", "SendError"]

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


class SendError(Exception):
    """A spooled request was not accepted; ``retryable`` says whether to keep the file."""

    def __init__(self, detail: str, *, retryable: bool, too_large: bool = False) -> None:
        super().__init__(detail)
        self.retryable = retryable
        # Refused for its size alone (HTTP 413, gRPC RESOURCE_EXHAUSTED): smaller parts
        # of it would be taken.
        self.too_large = too_large


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
            raise SendError(
                f"HTTP {exc.code} from {self.url}", retryable=retryable, too_large=exc.code == 413
            ) from exc
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
            details = exc.details() if callable(getattr(exc, "details", None)) else ""
            raise SendError(
                f"gRPC {code} from {self.endpoint}",
                retryable=retryable,
                # gRPC's own refusal of a message over the receiver's limit; the same code
                # for overload (a memory limiter) is only retried.
                too_large=code == codes.RESOURCE_EXHAUSTED and "larger than" in (details or ""),
            ) from exc

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
