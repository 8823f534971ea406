"""Load clients: each sends its share of the requests over OTLP/gRPC or OTLP/HTTP.

A client generates its requests before the start signal, so the timed part
measures the collector, not the generator. Each client keeps one request in
flight; concurrency is the number of clients. Retryable answers (gRPC
UNAVAILABLE, HTTP 429/503) are retried after the delay the collector asks for.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx

from bench.workload import WorkloadSpec, generate_requests

__all__ = ["ClientJob", "ClientResult", "run_client"]

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass(frozen=True)
class ClientJob:
    """What one client sends and where."""

    spec: WorkloadSpec
    index: int
    clients: int
    protocol: str  # grpc | http
    grpc_target: str
    http_url: str
    gzip: bool
    sample_every: int
    deadline_s: float  # stop sending this long after the start signal


@dataclass
class ClientResult:
    """What one client saw."""

    index: int
    requests: int = 0
    spans: int = 0
    runs: int = 0
    retries: int = 0
    failures: int = 0
    latencies_s: list[float] = field(default_factory=list)
    generate_s: float = 0.0
    first_send: float = 0.0
    last_ack: float = 0.0
    error: str = ""


class _GrpcSender:
    def __init__(self, job: ClientJob) -> None:
        self._channel = grpc.insecure_channel(
            job.grpc_target,
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
            compression=grpc.Compression.Gzip if job.gzip else None,
        )
        self._export = self._channel.unary_unary(_EXPORT)

    def send(self, body: bytes) -> float | None:
        """None when acknowledged; the retry delay when told to retry."""
        try:
            self._export(body, timeout=60)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                return 0.2
            raise
        return None

    def close(self) -> None:
        self._channel.close()


class _HttpSender:
    def __init__(self, job: ClientJob) -> None:
        self._client = httpx.Client(base_url=job.http_url, timeout=60)
        self._headers = {"content-type": "application/x-protobuf"}
        if job.gzip:
            self._headers["content-encoding"] = "gzip"

    def send(self, body: bytes) -> float | None:
        response = self._client.post("/v1/traces", content=body, headers=self._headers)
        if response.status_code in (429, 503):
            return min(2.0, float(response.headers.get("retry-after", "0.2")))
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        return None

    def close(self) -> None:
        self._client.close()


def run_client(job: ClientJob, ready: Any, start: Any, samples: Any) -> ClientResult:
    """Generate, signal ``ready``, wait for ``start``, send, and report.

    Every ``sample_every``-th acknowledged request puts (a run id, the ack time)
    on ``samples`` at once, for the driver to time ack -> visible.
    """
    result = ClientResult(index=job.index)
    began = time.monotonic()
    own = range(job.index, job.spec.requests, job.clients)
    prepared = []
    for request in generate_requests(job.spec, own):
        body = gzip.compress(request.body, 6) if job.gzip and job.protocol == "http" else None
        prepared.append((body or request.body, request.plan))
    result.generate_s = time.monotonic() - began
    sender = _GrpcSender(job) if job.protocol == "grpc" else _HttpSender(job)
    ready.put(job.index)
    start.wait()
    started = time.monotonic()
    result.first_send = started
    try:
        for number, (body, plan) in enumerate(prepared):
            if time.monotonic() - started > job.deadline_s:
                break
            sent = time.monotonic()
            while (delay := sender.send(body)) is not None:
                result.retries += 1
                time.sleep(delay)  # the collector asked us to back off
            acked = time.monotonic()
            result.latencies_s.append(acked - sent)
            result.requests += 1
            result.spans += plan.spans
            result.runs += len(plan.run_ids)
            result.last_ack = acked
            if number % job.sample_every == 0:
                samples.put((plan.run_ids[-1], acked))
    except Exception as exc:  # noqa: BLE001 - report, the driver decides
        result.error = f"{type(exc).__name__}: {exc}"
        result.failures += 1
    finally:
        sender.close()
    return result


def client_process(job: ClientJob, ready: Any, start: Any, samples: Any, results: Any) -> None:
    """Entry point of a client process: run and put the result on ``results``."""
    results.put(run_client(job, ready, start, samples))
