"""Secrets never reach storage; huge values keep a preview, their length and sha256."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest
from opentelemetry.trace import Status, StatusCode, Tracer

from collector.decode import SpanRecord
from collector.redact import REDACTED, TRUNCATED_KEY, RedactionPolicy, Sanitizer
from instrumentation import attributes as A
from tests.collector.ingest.otlp import export, record_spans
from tests.records import span_record

SECRETS = {
    "openai": "sk-proj-Zx81bQm2Lw9vTtY3uPq0rS7dKf4hJ6nC",
    "anthropic": "sk-ant-api03-Qw7eR9tY1uI3oP5aS7dF9gH2jK4lZ6x",
    "github": "ghp_9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9uV8wX",
    "aws": "AKIAZ7Q3M5T9WX2RL4PB",
    "slack": "xoxb-7730101-9923145-QwErTyUiOpAsDfGh",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
    "password": "Tr0ub4dor&3-horse",
    "url_password": "pa55w0rdInUrl",
    "env": "postgres-env-secret-value",
    "pem": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC",
}


def test_redact_text_covers_common_shapes() -> None:
    clean = Sanitizer()
    cases = {
        f"use {SECRETS['openai']} now": SECRETS["openai"],
        f"Authorization: Bearer {SECRETS['bearer']}": SECRETS["bearer"],
        json.dumps({"user": "bob", "password": SECRETS["password"]}): SECRETS["password"],
        f"postgres://admin:{SECRETS['url_password']}@db:5432/app": SECRETS["url_password"],
        json.dumps([{"Config": {"Env": [f"DB_PASS={SECRETS['env']}", "TZ=UTC"]}}]): SECRETS["env"],
        f"-----BEGIN RSA PRIVATE KEY-----\n{SECRETS['pem']}\n-----END RSA PRIVATE KEY-----": (
            SECRETS["pem"]
        ),
    }
    for text, secret in cases.items():
        out = clean.redact_text(text)
        assert secret not in out, out
        assert REDACTED in out
    # Ordinary tool arguments stay readable.
    assert clean.redact_text("docker logs homepage --tail 50") == "docker logs homepage --tail 50"
    env = clean.redact_text(json.dumps({"Env": ["DB_PASS=x1", "TZ=UTC"]}))
    assert "DB_PASS=" in env and "TZ=" in env and "UTC" not in env


def test_json_stays_json_where_a_secret_key_holds_a_bare_value() -> None:
    """A number under a secret key is redacted as a quoted marker; null, true and false,
    which hold nothing, stay: either way the document still parses."""
    clean = Sanitizer()
    document = {
        "cancellation_token": None,
        "password": 482913,
        "api_key": True,
        "refresh_token": "r-7Hq2LmX9pQ",
        "max_tokens": 100,
    }
    for text in (json.dumps(document), json.dumps(document, separators=(",", ":"))):
        out = json.loads(clean.redact_text(text))
        assert out == {
            "cancellation_token": None,
            "password": REDACTED,
            "api_key": True,
            "refresh_token": REDACTED,
            "max_tokens": 100,
        }
    # Outside JSON a bare value is still a secret, whatever it spells.
    assert clean.redact_text("password=null") == f"password={REDACTED}"
    assert clean.redact_text("token: 482913") == f"token: {REDACTED}"


def test_switching_off_and_extra_rules() -> None:
    off = Sanitizer(RedactionPolicy(enabled=False))
    assert off.redact_text(SECRETS["openai"]) == SECRETS["openai"]
    extra = Sanitizer(
        RedactionPolicy.with_extras(
            enabled=True,
            extra_patterns=[r"\bACME-[0-9]{6}\b"],
            extra_keys=["x-acme-session"],
            max_value_bytes=65536,
        )
    )
    assert extra.redact_text("id ACME-123456 ok") == f"id {REDACTED} ok"
    span = _span({"x-acme-session": "abc", "note": "ok"})
    (out,) = extra.apply([span])
    assert out.attributes == {"x-acme-session": REDACTED, "note": "ok"}


def _span(attributes: dict[str, Any]) -> SpanRecord:
    return span_record(attributes=attributes)


def test_huge_values_keep_preview_length_and_hash() -> None:
    clean = Sanitizer(RedactionPolicy(max_value_bytes=1024, preview_bytes=100))
    big = "x" * 5000 + "é"
    (out,) = clean.apply([_span({"tool": big, "small": "ok"})])
    raw = big.encode()
    assert out.attributes["small"] == "ok"
    assert out.attributes[TRUNCATED_KEY] == ["tool"]
    assert out.attributes[f"{TRUNCATED_KEY}.tool.bytes"] == len(raw)
    assert out.attributes[f"{TRUNCATED_KEY}.tool.sha256"] == hashlib.sha256(raw).hexdigest()
    assert out.attributes["tool"].startswith("x" * 100)
    assert len(out.attributes["tool"].encode()) < 1024


def test_each_span_keeps_its_own_cleaned_resource() -> None:
    # Spans of one ResourceSpans share a resource dict, cleaned once per batch;
    # a second resource in the same batch must not get the first one's result.
    shared = {"service.name": "agent-a", "api_key": SECRETS["openai"]}
    other = {"service.name": "agent-b", "deploy.url": f"https://u:{SECRETS['url_password']}@x"}
    spans = [_span({"n": i}) for i in range(3)]
    spans = [dataclasses.replace(s, resource=shared) for s in spans[:2]] + [
        dataclasses.replace(spans[2], resource=other)
    ]
    out = Sanitizer().apply(spans)
    assert [o.resource["service.name"] for o in out] == ["agent-a", "agent-a", "agent-b"]
    assert out[0].resource["api_key"] == REDACTED and out[1].resource["api_key"] == REDACTED
    assert "api_key" not in out[2].resource
    assert SECRETS["url_password"] not in out[2].resource["deploy.url"]
    assert shared["api_key"] == SECRETS["openai"], "the input is left untouched"


def test_every_span_field_is_carried_over() -> None:
    """The sanitizer builds each span anew: a field of SpanRecord it forgot would
    silently fall back to its default."""
    given = {
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "parent_span_id": "c" * 16,
        "name": "execute_tool docker_ps",
        "kind": 3,
        "start_ns": 11,
        "end_ns": 22,
        "status_code": 2,
        "status_message": "exit 1",
        "attributes": {"gen_ai.tool.name": "docker_ps", "n": 7},
        "events": [{"name": "exception", "time_ns": 15, "attributes": {"x": 1.5}}],
        "links": [{"trace_id": "d" * 32, "span_id": "e" * 16, "attributes": {"y": True}}],
        "resource": {"service.name": "agent-a"},
        "scope_name": "scope",
        "scope_version": "1.2",
    }
    assert set(given) == {f.name for f in dataclasses.fields(SpanRecord)}
    (out,) = Sanitizer().apply([SpanRecord(**given)])
    assert {name: getattr(out, name) for name in given} == given


def planted(tracer: Tracer) -> None:
    with tracer.start_as_current_span(
        f"invoke_agent leak {SECRETS['github']}",
        attributes={
            A.GEN_AI_OPERATION_NAME: "invoke_agent",
            A.RUN_ID: "canary",
            A.RUN_TASK: f"deploy with key {SECRETS['openai']}",
            "http.request.header.authorization": f"Bearer {SECRETS['bearer']}",
        },
    ) as run:
        with tracer.start_as_current_span(
            "execute_tool docker_inspect",
            attributes={
                A.RUN_ID: "canary",
                A.STEP_ACTION_TYPE: "tool_call",
                A.GEN_AI_TOOL_NAME: "docker_inspect",
                A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(
                    {"container": "db", "password": SECRETS["password"], "aws": SECRETS["aws"]}
                ),
                A.GEN_AI_TOOL_CALL_RESULT: json.dumps(
                    [{"Config": {"Env": [f"POSTGRES_PASSWORD={SECRETS['env']}"]}}]
                ),
            },
        ) as step:
            step.add_event("log", {"line": f"token {SECRETS['slack']}"})
            step.add_event(
                "file",
                {"text": "-----BEGIN PRIVATE KEY-----\n" + SECRETS["pem"] + "\n-----END"},
            )
        try:
            raise RuntimeError(f"cannot reach postgres://u:{SECRETS['url_password']}@db/x")
        except RuntimeError as exc:
            run.record_exception(exc)
            run.set_status(Status(StatusCode.ERROR, f"{SECRETS['anthropic']} rejected"))


@pytest.mark.parametrize("protocol", ["grpc", "http-json"])
def test_canary_secrets_never_reach_duckdb(collector: Any, protocol: str) -> None:
    export(protocol, collector, record_spans(planted))
    dump = json.dumps(
        [
            collector.query(f"SELECT * FROM {table}")
            for table in ("spans", "agent_runs", "agent_steps")
        ],
        default=str,
    )
    assert "canary" in dump and "docker_inspect" in dump  # the rows are there
    leaked = [name for name, secret in SECRETS.items() if secret in dump]
    assert leaked == []
    assert collector.query("SELECT status FROM agent_runs")[0][0] == "failed"
