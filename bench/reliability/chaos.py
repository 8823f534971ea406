"""Load with known spans, and a collector that keeps dying: the kill -9 campaign.

Several client threads send whole runs (one request = one run span + its
steps) over gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON. A request counts as
acknowledged only on gRPC OK / HTTP 200; anything else (error, reset, refused,
timeout) is "not acknowledged" and the client sends the very same bytes again
later, as an exporter would. Meanwhile the collector is SIGKILLed at seeded
random moments and restarted on the same file. After every kill the file is
read directly (read-only, the collector being dead) and checked:

- every acknowledged span, run and step is stored, exactly once;
- every request is stored all or nothing (one transaction);
- the hash chain verifies.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from bench.reliability.harness import (
    CollectorNotReady,
    CollectorProcess,
    GrpcSender,
    HttpSender,
    Outcome,
    RunRequest,
    build_run_request,
)
from collector.chain import verify_chain
from collector.chain_key import key_next_to
from collector.journal import journal_dir
from collector.journal_replay import journaled_spans

__all__ = [
    "CLIENT_KINDS",
    "CampaignResult",
    "Endpoints",
    "KillCampaign",
    "Ledger",
    "Load",
    "check_file",
]

logger = logging.getLogger(__name__)

CLIENT_KINDS = ("grpc", "http-protobuf", "grpc", "http-json", "grpc", "http-protobuf")


class Ledger:
    """What was sent and what was acknowledged; shared by the client threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempted: dict[str, RunRequest] = {}  # by trace id
        self.acked: dict[str, RunRequest] = {}
        self.outcomes: Counter[str] = Counter()
        self.rejections: list[str] = []
        self.partial: list[str] = []

    def attempt(self, request: RunRequest) -> None:
        with self._lock:
            self.attempted[request.trace_id] = request

    def record(self, request: RunRequest, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes[outcome.kind] += 1
            if outcome.acked:
                self.acked[request.trace_id] = request
                if outcome.partial_rejected:
                    self.partial.append(f"{request.run_id}: {outcome.partial_rejected} rejected")
            elif outcome.kind == "rejected":
                self.rejections.append(f"{request.run_id}: {outcome.detail}")

    def snapshot(self) -> tuple[dict[str, RunRequest], dict[str, RunRequest]]:
        with self._lock:
            return dict(self.attempted), dict(self.acked)


class Endpoints:
    """The live collector's addresses, or None while it is down."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._current: tuple[int, str, str] | None = None
        self._epoch = 0

    def publish(self, grpc_target: str, http_url: str) -> None:
        with self._cond:
            self._epoch += 1
            self._current = (self._epoch, grpc_target, http_url)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._current = None

    def wait(self, timeout_s: float) -> tuple[int, str, str] | None:
        with self._cond:
            if self._current is None:
                self._cond.wait(timeout_s)
            return self._current


@dataclass
class _Client:
    number: int
    kind: str
    ledger: Ledger
    endpoints: Endpoints
    stop_new: threading.Event
    give_up: threading.Event
    rng: random.Random
    max_steps: int
    in_flight: int = 0
    seq: int = 0
    epoch_acks: Counter[int] = field(default_factory=Counter)

    def run(self) -> None:
        pending: RunRequest | None = None
        sender: GrpcSender | HttpSender | None = None
        sender_epoch = -1
        try:
            while not self.give_up.is_set():
                if pending is None:
                    if self.stop_new.is_set():
                        return
                    self.seq += 1
                    pending = build_run_request(
                        self.number,
                        self.seq,
                        self.rng.randint(0, self.max_steps),
                        payload_bytes=self.rng.choice((0, 0, 0, 2000)),
                    )
                    self.ledger.attempt(pending)
                current = self.endpoints.wait(0.05)
                if current is None:
                    continue
                epoch, grpc_target, http_url = current
                if sender is None or sender_epoch != epoch:
                    if sender is not None:
                        sender.close()
                    sender = (
                        GrpcSender(grpc_target) if self.kind == "grpc" else HttpSender(http_url)
                    )
                    sender_epoch = epoch
                self.in_flight = 1
                outcome = self._send(sender, pending)
                self.in_flight = 0
                self.ledger.record(pending, outcome)
                if outcome.acked:
                    self.epoch_acks[epoch] += 1
                    pending = None
                else:
                    self.give_up.wait(0.02)  # back off before resending the same bytes
        finally:
            if sender is not None:
                sender.close()

    def _send(self, sender: GrpcSender | HttpSender, request: RunRequest) -> Outcome:
        if isinstance(sender, GrpcSender):
            return sender.send(request.protobuf(), timeout_s=5.0)
        if self.kind == "http-json":
            return sender.send(request.json(), content_type="application/json", timeout_s=5.0)
        return sender.send(request.protobuf(), timeout_s=5.0)


def check_file(
    db: Path, attempted: dict[str, RunRequest], acked: dict[str, RunRequest]
) -> list[str]:
    """Read the file directly (collector stopped) and list every broken promise.

    A request acknowledged from the request journal and not yet applied is
    found there (the next start applies it); its run's rows are checked at a
    later call, once it is in the file.
    """
    problems: list[str] = []
    if not db.exists():  # killed before it created the file
        return [f"{len(acked)} acknowledged run(s) but no file"] if acked else []
    journaled = {(s.trace_id, s.span_id) for s in journaled_spans(journal_dir(db))}
    with duckdb.connect(str(db), read_only=True) as con:
        span_rows = con.execute("SELECT trace_id, span_id FROM spans").fetchall()
        run_rows = con.execute("SELECT id, total_steps, status FROM agent_runs").fetchall()
        step_rows = con.execute("SELECT id, agent_run_id FROM agent_steps").fetchall()
        report = verify_chain(con, key=key_next_to(db))
    stored_spans = Counter(span_rows)
    duplicates = [key for key, n in stored_spans.items() if n > 1]
    if duplicates:
        problems.append(f"{len(duplicates)} span(s) stored twice, e.g. {duplicates[:3]}")
    runs = Counter(r[0] for r in run_rows)
    if any(n > 1 for n in runs.values()):
        problems.append("a run is stored twice")
    steps = Counter(r[0] for r in step_rows)
    if any(n > 1 for n in steps.values()):
        problems.append("a step is stored twice")
    run_info = {r[0]: (r[1], r[2]) for r in run_rows}
    steps_per_run = Counter(r[1] for r in step_rows)
    per_trace = Counter(trace for trace, _ in span_rows)
    for request in acked.values():
        missing = [k for k in request.span_keys if k not in stored_spans]
        if missing and all(k in journaled for k in missing):
            continue  # durable in the journal; applied at the next start
        if missing:
            problems.append(
                f"acknowledged {request.run_id}: {len(missing)} of "
                f"{len(request.span_keys)} span(s) missing"
            )
            continue
        total_steps, status = run_info.get(request.run_id, (None, None))
        expected = len(request.step_span_ids)
        if total_steps != expected or steps_per_run[request.run_id] != expected:
            problems.append(
                f"acknowledged {request.run_id}: run row {total_steps!r}/{status!r}, "
                f"{steps_per_run[request.run_id]} step rows, expected {expected} steps"
            )
    for trace_id, stored in per_trace.items():
        sent = attempted.get(trace_id)
        if sent is None:
            problems.append(f"trace {trace_id} stored but never sent")
        elif stored != len(sent.span_keys):
            problems.append(f"{sent.run_id} stored partly: {stored} of {len(sent.span_keys)} spans")
    if not report.ok:
        assert report.problem is not None
        problems.append(f"hash chain broken after a kill: {report.problem.message}")
    return problems


class Load:
    """Client threads sending runs to whatever collector ``endpoints`` names."""

    def __init__(
        self, *, seed: int, client_kinds: tuple[str, ...] = CLIENT_KINDS, max_steps: int = 12
    ) -> None:
        self.ledger = Ledger()
        self.endpoints = Endpoints()
        self.stop_new = threading.Event()
        self.give_up = threading.Event()
        self.clients = [
            _Client(
                number=i + 1,
                kind=kind,
                ledger=self.ledger,
                endpoints=self.endpoints,
                stop_new=self.stop_new,
                give_up=self.give_up,
                rng=random.Random(seed * 1000 + i),
                max_steps=max_steps,
            )
            for i, kind in enumerate(client_kinds)
        ]
        self._threads = [
            threading.Thread(target=c.run, name=f"client-{c.number}", daemon=True)
            for c in self.clients
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def in_flight(self) -> int:
        """Requests sent and not yet answered, right now."""
        return sum(c.in_flight for c in self.clients)

    def acks_in_epoch(self, epoch: int) -> int:
        return sum(c.epoch_acks[epoch] for c in self.clients)

    def current_epoch(self) -> int:
        current = self.endpoints.wait(0)
        return current[0] if current else -1

    def drain(self, timeout_s: float) -> bool:
        """Stop making new requests; wait until every pending one is acknowledged."""
        self.stop_new.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Stop at once, pending requests left unsent."""
        self.stop_new.set()
        self.give_up.set()
        for thread in self._threads:
            thread.join(10)


@dataclass
class CampaignResult:
    """What a kill campaign did and found."""

    kills: int = 0
    kills_with_requests_in_flight: int = 0
    kills_before_ready: int = 0
    restarts: int = 0
    restart_s: list[float] = field(default_factory=list)
    requests_attempted: int = 0
    requests_acked: int = 0
    spans_acked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    final_exit_code: int | None = None
    final_wal_bytes: int = 0
    elapsed_s: float = 0.0


class KillCampaign:
    """Clients send; the collector is killed ``kills`` times at seeded random moments."""

    def __init__(
        self,
        workdir: Path,
        *,
        kills: int,
        seed: int,
        client_kinds: tuple[str, ...] = CLIENT_KINDS,
        max_steps: int = 12,
        max_delay_s: float = 1.2,
        early_kill_chance: float = 0.15,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.db = self.workdir / "kills.duckdb"
        self.kills = kills
        self.rng = random.Random(seed)
        self.max_delay_s = max_delay_s
        self.early_kill_chance = early_kill_chance
        self.load = Load(seed=seed, client_kinds=client_kinds, max_steps=max_steps)
        self.progress = progress or (lambda text: logger.info("%s", text))

    def _collector(self) -> CollectorProcess:
        return CollectorProcess(self.db, log_dir=self.workdir / "logs")

    def run(self, *, drain_timeout_s: float = 60.0) -> CampaignResult:
        result = CampaignResult()
        began = time.monotonic()
        load, ledger = self.load, self.load.ledger
        load.start()
        try:
            for number in range(1, self.kills + 1):
                self._one_kill(result)
                attempted, acked = ledger.snapshot()
                problems = check_file(self.db, attempted, acked)
                result.problems.extend(f"after kill {number}: {p}" for p in problems)
                if number % 10 == 0 or problems:
                    self.progress(
                        f"kill {number}/{self.kills}: {len(acked)} runs acknowledged, "
                        f"{len(problems)} problem(s)"
                    )
            # Last life: let every client get its pending request acknowledged.
            collector = self._start(result)
            if not load.drain(drain_timeout_s):
                result.problems.append(f"clients still retrying after {drain_timeout_s}s")
            load.stop()
            load.endpoints.clear()
            result.final_exit_code = collector.terminate()
            wal = self.db.with_name(self.db.name + ".wal")
            result.final_wal_bytes = wal.stat().st_size if wal.exists() else 0
        finally:
            load.stop()
        attempted, acked = ledger.snapshot()
        result.problems.extend(f"at the end: {p}" for p in check_file(self.db, attempted, acked))
        unacked = set(attempted) - set(acked)
        if unacked:
            result.problems.append(f"{len(unacked)} request(s) never acknowledged despite retries")
        result.requests_attempted = len(attempted)
        result.requests_acked = len(acked)
        result.spans_acked = sum(len(r.span_keys) for r in acked.values())
        result.outcomes = Counter(ledger.outcomes)
        result.problems.extend(f"rejected: {r}" for r in ledger.rejections[:20])
        result.problems.extend(f"partial success: {p}" for p in ledger.partial[:20])
        result.elapsed_s = time.monotonic() - began
        return result

    def _start(self, result: CampaignResult) -> CollectorProcess:
        began = time.monotonic()
        collector = self._collector().start()
        result.restarts += 1
        result.restart_s.append(time.monotonic() - began)
        self.load.endpoints.publish(collector.grpc_target, collector.http_endpoint)
        return collector

    def _one_kill(self, result: CampaignResult) -> None:
        load = self.load
        if self.rng.random() < self.early_kill_chance:
            # Kill while it may still be starting (opening the file, replaying its WAL).
            collector = self._collector()
            try:
                collector.start(ready_timeout_s=self.rng.uniform(0.0, 1.5))
            except CollectorNotReady:
                result.kills_before_ready += 1
            else:
                load.endpoints.publish(collector.grpc_target, collector.http_endpoint)
            collector.kill()
        else:
            collector = self._start(result)
            epoch = load.current_epoch()
            deadline = time.monotonic() + 20
            # Wait until traffic flows into this life, then kill at a random moment.
            while load.acks_in_epoch(epoch) == 0 and time.monotonic() < deadline:
                load.give_up.wait(0.005)
            load.give_up.wait(self.rng.uniform(0.0, self.max_delay_s))
            in_flight = load.in_flight()
            collector.kill()
            if in_flight:
                result.kills_with_requests_in_flight += 1
        load.endpoints.clear()
        result.kills += 1
