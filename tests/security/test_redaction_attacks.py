"""Redaction under attack: credential shapes, secrets in keys, cut values, budget, canaries."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import StatusCode

import instrumentation
from collector.decode import SpanRecord
from collector.redact import BUDGET_REDACTED, REDACTED, RedactionPolicy, Sanitizer
from collector.server import start_collector
from collector.settings import Settings
from instrumentation import agent_run
from instrumentation.redaction import Budget
from instrumentation.setup import export_stats
from instrumentation.setup import tracer as instrumentation_tracer
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.records import span_record
from tests.support import free_port, unreachable_url, wait_until

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9Xk2Lm4T"
SHAPES = {
    "bare aws secret": (f"creds {AWS_SECRET} end", AWS_SECRET),
    "aws secret in json": (json.dumps({"SecretAccessKey": AWS_SECRET}), AWS_SECRET),
    "jwt no signature": (
        "t eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbjEyIn0.",
        "eyJzdWIiOiJhZG1pbjEyIn0",
    ),
    "digest header": (
        'Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1"',
        "6629fae49393a05397450978507c4ef1",
    ),
    "aws sigv4 header": (
        "authorization: AWS4-HMAC-SHA256 Credential=AKID/2025, Signature=fe5f80f77d5fa3beca038a",
        "fe5f80f77d5fa3beca038a",
    ),
    "proxy header": ("Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVu"),
    "openssh key": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
    ),
    "pem without end": ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk", "MHcCAQEEIBkg"),
    "github fine-grained": ("github_pat_11ABCDEFG0aBcDeFgHiJkL_mnOpQrStUvWxYz", "11ABCDEFG0aBcDe"),
    "github app": ("ghs_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c6912"),
    "slack bot": ("xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "AbCdEfGhIjKl"),
    "slack webhook": ("https://hooks.slack.com/services/T00/B00/XXXXXXXXXXXXXXXXXXXXXXXX", "XXXXX"),
    "stripe live": ("sk_live_51HqLyjWDarjtT1zdp7dcXYZ", "51HqLyjWDarjtT1zdp7dc"),
    "stripe restricted": ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    "stripe webhook": ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8IL"),
    "postgres url": ("postgresql://app:Sup3r-S3cret@db:5432/x", "Sup3r-S3cret"),
    "redis no user": ("redis://:r3disPassw0rd@cache:6379/0", "r3disPassw0rd"),
    "ado string": ("Server=db;User Id=sa;Password=Str0ng!Pass;Encrypt=true", "Str0ng!Pass"),
    "mongodb srv": ("mongodb+srv://root:m0ngoPw@cluster0.x.net/db", "m0ngoPw"),
    "pgpassword env": ("PGPASSWORD=pgS3cretValue psql -h db", "pgS3cretValue"),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_credential_shapes_are_redacted(case: str) -> None:
    text, secret = SHAPES[case]
    out = Sanitizer().redact_text(text)
    assert secret not in out, out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f786850e387550fdab836ed7e6dc881de23001b merged",
        "docker logs homepage --tail 50",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "input_tokens=1234 output_tokens=56",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Sanitizer().redact_text(text) == text


def _span(attributes: dict[str, Any], name: str = "n") -> SpanRecord:
    return span_record(name=name, attributes=attributes)


def test_secrets_in_attribute_keys_are_redacted() -> None:
    token = "ghp_9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9uV8wX"
    attributes = {
        f"header.Authorization: Bearer {token}": "1",
        f"cache.{token}": "2",
        "sk-proj-Zx81bQm2Lw9vTtY3uPq0rS7dKf4hJ6nC": "3",
        "plain": "4",
    }
    (out,) = Sanitizer().apply([_span(attributes)])
    dumped = json.dumps(out.attributes)
    assert token not in dumped and "Zx81bQm2Lw9vTtY3" not in dumped
    assert sorted(out.attributes.values()) == ["1", "2", "3", "4"], "no value lost to a clash"
    assert out.attributes["plain"] == "4"


def test_a_secret_cut_by_the_preview_is_still_redacted() -> None:
    clean = Sanitizer(RedactionPolicy(max_value_bytes=1024, preview_bytes=100))
    for offset in range(80, 101, 4):
        value = "x" * offset + " sk-proj-Zx81bQm2Lw9vTtY3uPq0rS7dKf4hJ6nC " + "y" * 5000
        (out,) = clean.apply([_span({"tool": value})])
        preview = out.attributes["tool"].split("\n…[truncated", 1)[0]
        assert "Zx81bQm2" not in preview and "sk-proj-Z" not in preview, (offset, preview)


def test_huge_values_are_cut_before_redaction() -> None:
    # Only the preview window is scanned: a secret far past it never reaches storage,
    # and neither does any other byte past the preview.
    clean = Sanitizer(RedactionPolicy(max_value_bytes=1024, preview_bytes=100))
    value = "a " * 10_000 + "password=hunter2hunter2"
    (out,) = clean.apply([_span({"tool": value})])
    assert "hunter2" not in json.dumps(out.attributes)


def test_a_spent_budget_redacts_whole_values_instead_of_stalling() -> None:
    clean = Sanitizer(RedactionPolicy(time_budget_s=0.0))
    (out,) = clean.apply([_span({"a": "ok", "b": "password=hunter2"}, name="run")])
    assert out.attributes == {"a": BUDGET_REDACTED, "b": BUDGET_REDACTED}
    assert out.name == BUDGET_REDACTED


def test_the_budget_counts_work_not_waiting() -> None:
    # A request waiting for a core on a busy machine must not lose its values:
    # only CPU spent redacting counts against the budget.
    budget = Budget(0.05)
    threading.Event().wait(0.2)  # off the CPU for four budgets' worth of wall time
    assert budget.left()
    deadline = time.thread_time() + 0.2
    while time.thread_time() < deadline:  # on the CPU past the budget
        pass
    assert not budget.left()


def test_a_spent_budget_is_noticed_within_a_bounded_amount_of_text() -> None:
    # The redactor reads the CPU clock once per ~32 KB of scanned text, not per string:
    # past the budget, at most that much more text is scanned before values go whole.
    budget = Budget(0.05)
    assert budget.left(10)
    deadline = time.thread_time() + 0.1
    while time.thread_time() < deadline:  # on the CPU past the budget
        pass
    answers = [budget.left(100) for _ in range(100)]  # 100 short strings: ~61 KB of cost
    assert not answers[-1]
    assert answers.index(False) <= 32 * 1024 // 100
    assert not budget.left(10), "once spent, it stays spent"


_SECRETS = st.sampled_from([secret for _, secret in SHAPES.values()])
_NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(max_examples=300, deadline=None)
@given(before=_NOISE, after=_NOISE, case=st.sampled_from(sorted(SHAPES)))
def test_fuzz_a_shaped_secret_in_any_surroundings_is_redacted(
    before: str, after: str, case: str
) -> None:
    text, secret = SHAPES[case]
    out = Sanitizer().redact_text(f"{before} {text}\n{after}")
    assert secret not in out


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("password=:\"' \\-_.aA0/+@")), max_size=3000))
def test_fuzz_hostile_alphabets_terminate_and_never_grow_a_secret(text: str) -> None:
    out = Sanitizer().redact_text(text)
    assert isinstance(out, str)


CANARIES = {
    "aws": AWS_SECRET,
    "stripe": "sk_live_CanaryStripe0123456789",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJjYW5hcnkiOiJ5ZXMifQ.Q2FuYXJ5U2lnbmF0dXJlMDEy",
    "pem": "MIIEcanaryPEMbodyQIBADANBgkqhkiG9w0",
    "dsn": "CanaryDbPassw0rd",
}


def _plant(tracer: Any) -> None:
    with tracer.start_as_current_span(
        "invoke_agent canary",
        attributes={
            "agent_run.id": "canary-run",
            "gen_ai.operation.name": "invoke_agent",
            "agent_run.task": f"use {CANARIES['aws']} and {CANARIES['stripe']}",
            f"http.header.authorization: Bearer {CANARIES['jwt']}": "x",
            "tool.result": "-----BEGIN PRIVATE KEY-----\n" + CANARIES["pem"] + "\n" + "z" * 70000,
            "db.url": f"postgresql://app:{CANARIES['dsn']}@db/x",
        },
    ):
        pass


def test_canaries_reach_no_byte_of_database_wal_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "canary.duckdb"
    handle: CollectorHandle = start_test_collector(db)
    try:
        export("http-json", handle, record_spans(_plant))
        export("grpc", handle, record_spans(_plant))
        assert handle.query("SELECT count(*) FROM spans") == [(2,)]
        dump = json.dumps(handle.query("SELECT * FROM spans"), default=str)
        wal = db.with_name(db.name + ".wal")
        live_bytes = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    finally:
        handle.stop()
    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for name, secret in CANARIES.items():
        needle = secret.encode()
        assert secret not in dump, name
        assert needle not in live_bytes and needle not in files, name
        assert secret not in caplog.text, name


def _plant_everywhere(tracer: Any) -> None:
    """The canaries in a span's name, attributes, keys, events and status (via the SDK)."""
    _plant(tracer)
    with tracer.start_as_current_span(f"execute_tool deploy {CANARIES['stripe']}") as span:
        span.set_attribute("agent_run.id", "canary-run")
        span.add_event("exception", {"exception.message": f"token {CANARIES['jwt']} refused"})
        span.set_status(StatusCode.ERROR, f"login refused for redis://:{CANARIES['dsn']}@cache")


def _spool_bytes(spool_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(spool_dir.rglob("*")) if p.is_file())


def _configure_with_spool(spool_dir: Path, port: int) -> None:
    """The instrumentation, exporting to ``port`` with an on-disk spool."""
    instrumentation.configure(
        endpoint=f"http://127.0.0.1:{port}",
        protocol="grpc",
        spool_dir=spool_dir,
        spool_retry_s=0.05,
        export_timeout_s=1,
        cancel_poll_s=None,
    )


def _plant_with_the_collector_down(spool_dir: Path, port: int) -> bytes:
    """Plant the canaries while nothing listens on ``port``; the spool's bytes after."""
    # Every batch spills to the spool on the agent's disk.
    _configure_with_spool(spool_dir, port)
    try:
        _plant_everywhere(instrumentation_tracer())
        wait_until(
            lambda: b"canary-run" in _spool_bytes(spool_dir), timeout_s=20, what="spooled spans"
        )
    finally:
        instrumentation.shutdown(timeout_s=2)
    return _spool_bytes(spool_dir)


def test_canaries_reach_no_byte_of_the_spool_database_wal_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent's spool holds redacted spans: redaction runs before export and spool."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"deploy.api_key={CANARIES['stripe']}")
    port = free_port()
    spool_dir = tmp_path / "spool"
    spooled = _plant_with_the_collector_down(spool_dir, port)
    assert b"execute_tool deploy" in spooled and b"[REDACTED]" in spooled  # spans are there
    for name, secret in CANARIES.items():
        assert secret.encode() not in spooled, f"{name} reached the spool"

    # The collector comes up on that port; the next process replays the spool into it.
    db = tmp_path / "spooled.duckdb"
    settings = Settings(db_path=db, grpc_port=port, http_port=0)
    handle = CollectorHandle(start_collector(settings), db)
    try:
        _configure_with_spool(spool_dir, port)
        try:
            wait_until(lambda: not list(spool_dir.glob("*.otlp")), timeout_s=30, what="replay")
        finally:
            instrumentation.shutdown(timeout_s=5)
        stored = handle.query(
            "SELECT name, attributes, events, status_message, resource FROM spans"
        )
        assert any(str(row[0]).startswith("execute_tool deploy") for row in stored)
        dump = json.dumps(stored, default=str)
    finally:
        handle.stop()
    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for name, secret in CANARIES.items():
        assert secret not in dump, name
        assert secret.encode() not in files, f"{name} reached a file under {tmp_path}"
        assert secret not in caplog.text, f"{name} reached a log"


def test_redaction_at_the_source_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: with AGENT_AUDIT_REDACT=false the same spool holds every canary."""
    monkeypatch.setenv("AGENT_AUDIT_REDACT", "false")
    spooled = _plant_with_the_collector_down(tmp_path / "spool", free_port())
    assert CANARIES["stripe"].encode() in spooled and CANARIES["jwt"].encode() in spooled


def test_spans_spilled_by_a_full_queue_reach_the_spool_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way into the spool: a burst overflows the span queue, which spills."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")
    spool_dir = tmp_path / "spool"
    instrumentation.configure(
        endpoint=unreachable_url(),
        protocol="grpc",
        spool_dir=spool_dir,
        spool_retry_s=60,
        export_timeout_s=1,
        cancel_poll_s=None,
    )
    try:
        for index in range(150):
            with agent_run(f"burst {index}") as run:
                for _ in range(4):
                    with run.step("tool_call", tool_name="deploy") as s:
                        s.set_result(f"pushed with {CANARIES['stripe']} and {CANARIES['jwt']}")
        stats = export_stats()
    finally:
        instrumentation.shutdown(timeout_s=2)
    assert stats.spilled_spans > 0, "the queue never overflowed: nothing was spilled"
    spooled = _spool_bytes(spool_dir)
    assert spooled.count(b"execute_tool deploy") >= stats.spilled_spans // 2
    for name, secret in CANARIES.items():
        assert secret.encode() not in spooled, f"{name} reached the spool"


@pytest.mark.parametrize("wire", [True, False], ids=["wire-redacted", "wire-as-is"])
def test_redaction_on_the_wire_is_opt_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire: bool
) -> None:
    """AGENT_AUDIT_REDACT_WIRE=true redacts before export; by default the collector does.

    The collector here stores what it receives as it is, so what arrives shows
    what the agent sent.
    """
    monkeypatch.setenv("AGENT_AUDIT_REDACT_WIRE", "true" if wire else "false")
    handle = start_test_collector(tmp_path / "wire.duckdb", redact=False)
    try:
        instrumentation.configure(
            endpoint=handle.grpc_endpoint, protocol="grpc", cancel_poll_s=None
        )
        try:
            _plant_everywhere(instrumentation_tracer())
        finally:
            instrumentation.shutdown(timeout_s=10)
        wait_until(
            lambda: handle.query("SELECT count(*) FROM spans WHERE name LIKE 'execute_tool%'")[0][
                0
            ],
            timeout_s=20,
            what="the planted span stored",
        )
        dump = json.dumps(
            handle.query("SELECT name, attributes, events, status_message FROM spans"), default=str
        )
    finally:
        handle.stop()
    sent = [name for name, secret in CANARIES.items() if secret in dump]
    if wire:
        assert sent == [], f"{sent} left the agent unredacted"
    else:  # the control: the same spans travel as they are
        assert "stripe" in sent and "jwt" in sent, sent
