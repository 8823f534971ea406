"""Raw OTLP senders that report exactly how each request was answered.

They never retry on their own: the caller decides, so a test knows which request
was acknowledged (HTTP 200 / gRPC OK) and which was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

__all__ = ["EXPORT_METHOD", "GrpcSender", "HttpSender", "Outcome"]

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass(frozen=True)
class Outcome:
    """How one request was answered.

    kind: "ok" (acknowledged), "retryable" (OTLP's retryable answers),
    "connection" (no answer: refused, reset, timed out), "rejected" (any other
    answer; never expected from a healthy collector for a valid request).
    """

    kind: str
    detail: str = ""
    retry_after_s: float | None = None
    partial_rejected: int = 0

    @property
    def acked(self) -> bool:
        return self.kind == "ok"


def _retry_info(call: Any) -> float | None:
    """The RetryInfo delay carried in grpc-status-details-bin, if any."""
    for key, value in call.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status()
        status.ParseFromString(value)
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class GrpcSender:
    """Sends raw OTLP bytes to ``TraceService/Export`` on one channel."""

    def __init__(self, target: str, *, token: str | None = None) -> None:
        self.target = target
        self._channel = grpc.insecure_channel(target)
        self._export = self._channel.unary_unary(EXPORT_METHOD)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def send(self, payload: bytes, *, timeout_s: float = 5.0, compression: Any = None) -> Outcome:
        try:
            body = self._export(
                payload, metadata=self._metadata, timeout=timeout_s, compression=compression
            )
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            text = f"{code.name}: {exc.details()}"  # type: ignore[attr-defined]
            if code is grpc.StatusCode.UNAVAILABLE:
                retry = _retry_info(exc)
                # A bare UNAVAILABLE without RetryInfo comes from the transport (the
                # server is gone), not from the collector's overload answer.
                return Outcome("retryable" if retry is not None else "connection", text, retry)
            # DEADLINE_EXCEEDED and CANCELLED are what a client sees when the server goes
            # away mid-call (CANCELLED when shutdown ends a call the server had not yet
            # answered); OTLP lists both as retryable, and neither is an acknowledgement.
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                return Outcome("connection", text)
            return Outcome("rejected", text)
        response = ExportTraceServiceResponse()
        response.ParseFromString(body)
        return Outcome("ok", partial_rejected=response.partial_success.rejected_spans)

    def close(self) -> None:
        self._channel.close()


class HttpSender:
    """POSTs raw OTLP bodies to ``/v1/traces`` with one httpx client."""

    def __init__(self, base_url: str, *, token: str | None = None) -> None:
        self.url = base_url.rstrip("/") + "/v1/traces"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(headers=headers)

    def send(
        self, body: bytes, *, content_type: str = "application/x-protobuf", timeout_s: float = 5.0
    ) -> Outcome:
        try:
            response = self._client.post(
                self.url, content=body, headers={"content-type": content_type}, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            return Outcome("connection", f"{type(exc).__name__}: {exc}")
        if not response.headers.get("content-type", "").startswith(content_type):
            return Outcome(
                "rejected",
                f"{response.status_code} answered with {response.headers.get('content-type')}",
            )
        if response.status_code == 200:
            parsed = ExportTraceServiceResponse()
            if content_type == "application/json":
                rejected = int(response.json().get("partialSuccess", {}).get("rejectedSpans", 0))
            else:
                parsed.ParseFromString(response.content)
                rejected = parsed.partial_success.rejected_spans
            return Outcome("ok", partial_rejected=rejected)
        if response.status_code in (429, 502, 503, 504):
            retry_after = response.headers.get("retry-after")
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            kind = "retryable" if seconds is not None else "rejected"
            return Outcome(kind, f"HTTP {response.status_code}", seconds)
        return Outcome("rejected", f"HTTP {response.status_code}: {response.text[:300]}")

    def close(self) -> None:
        self._client.close()
