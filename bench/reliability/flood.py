"""Flood a collector far beyond its queue and check every answer.

Each sender thread owns a list of requests and sends each until it is
acknowledged. Any answer must be an acknowledgement or one of OTLP's retryable
answers, with its hint: gRPC UNAVAILABLE carrying RetryInfo, or HTTP 429/503
carrying Retry-After (checked in :mod:`bench.reliability.harness`). The sender
then waits a short, jittered time (shorter than the hint, to keep the flood on)
and tries again.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.reliability.harness import GrpcSender, HttpSender, Outcome, RunRequest

__all__ = ["FloodResult", "flood"]


@dataclass
class FloodResult:
    """Answers seen during a flood."""

    outcomes: Counter[str] = field(default_factory=Counter)
    bad_answers: list[str] = field(default_factory=list)
    retry_hints_s: Counter[float] = field(default_factory=Counter)
    acked: list[RunRequest] = field(default_factory=list)
    unacked: list[RunRequest] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def acked_spans(self) -> int:
        return sum(len(r.span_keys) for r in self.acked)


def flood(
    grpc_target: str,
    http_url: str,
    work: dict[str, list[RunRequest]],
    *,
    seed: int,
    deadline_s: float,
    token: str | None = None,
    stop: threading.Event | None = None,
) -> FloodResult:
    """Send every request of ``work`` (sender kind -> requests) until acknowledged."""
    result = FloodResult()
    lock = threading.Lock()
    stop = stop or threading.Event()
    deadline = time.monotonic() + deadline_s
    began = time.monotonic()

    def sender_loop(kind: str, requests: list[RunRequest], rng: random.Random) -> None:
        sender: GrpcSender | HttpSender = (
            GrpcSender(grpc_target, token=token)
            if kind == "grpc"
            else HttpSender(http_url, token=token)
        )
        try:
            for index, request in enumerate(requests):
                while True:
                    if stop.is_set() or time.monotonic() > deadline:
                        with lock:
                            result.unacked.extend(requests[index:])
                        return
                    outcome = _send(sender, kind, request)
                    with lock:
                        result.outcomes[outcome.kind] += 1
                        if outcome.kind == "retryable" and outcome.retry_after_s is not None:
                            result.retry_hints_s[outcome.retry_after_s] += 1
                        if outcome.kind in ("rejected", "connection") or outcome.partial_rejected:
                            result.bad_answers.append(f"{kind} {request.run_id}: {outcome}")
                    if outcome.acked:
                        with lock:
                            result.acked.append(request)
                        break
                    stop.wait(rng.uniform(0.02, 0.1))  # back off, then the same bytes again
        finally:
            sender.close()

    threads = []
    for number, (name, requests) in enumerate(sorted(work.items())):
        kind = name.split("#")[0]
        thread = threading.Thread(
            target=sender_loop,
            args=(kind, requests, random.Random(seed * 7919 + number)),
            name=f"flood-{name}",
            daemon=True,
        )
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 15)
    result.elapsed_s = time.monotonic() - began
    return result


def _send(sender: GrpcSender | HttpSender, kind: str, request: RunRequest) -> Outcome:
    if isinstance(sender, GrpcSender):
        return sender.send(request.protobuf(), timeout_s=30)
    if kind == "http-json":
        return sender.send(request.json(), content_type="application/json", timeout_s=30)
    return sender.send(request.protobuf(), timeout_s=30)
