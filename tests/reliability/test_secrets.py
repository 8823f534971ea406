"""The secrets canary: plant secrets everywhere a span can carry them; none may come out.

Searched: the DuckDB file (raw bytes and every column of every table, after a
clean stop), the REST API, POST /sql, the Parquet export, the backup and the collector's
own logs (at DEBUG). Each secret is found by a distinctive middle part (its
"needle"), so a redaction that keeps a recognisable prefix or suffix still passes.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench.reliability.harness import CollectorProcess, HttpSender, build_run_request, kv
from instrumentation import attributes as A

# needle -> the full secret as planted. Needles are alphanumeric, so JSON escaping
# cannot hide them.
SECRETS = {
    "CanaryOpenAIproj7Q2w": "sk-proj-CanaryOpenAIproj7Q2wT3BlbkFJx9Lk2mZpQrStUvWxYz012345",
    "CanaryOpenAIlegacy8K": "sk-CanaryOpenAIlegacy8KaBcDeFgHiJkLmNoPqRsTuVwXyZ01234567",
    "CanaryAnthropic5Rt9u": "sk-ant-api03-CanaryAnthropic5Rt9uAbCdEfGhIjKlMnOpQrStUvWxYz-0123AA",
    "CanaryGithubTok3n012": "ghp_CanaryGithubTok3n0123456789abcdefAB",
    "CanaryGithubPat77xYz": "github_pat_11ABCDEFG0CanaryGithubPat77xYzAbCdEfGhIjKlMnOpQrStUvWx",
    "CANARY7EXAMPLE12": "AKIACANARY7EXAMPLE12",
    "CanaryAwsSecretKey9z": "wJalrXUtnFEMI/K7MDENG/CanaryAwsSecretKey9zbPxRfiCY",
    "CanarySlackTok3nAbCd": "xoxb-123456789012-1234567890123-CanarySlackTok3nAbCd",
    "CanaryBearerOpaque55": "CanaryBearerOpaque55abcdefGHIJ0123",
    "CanaryJwtPayload0042": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJCanaryJwtPayload0042In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    ),
    "CanaryJsonPassw0rd31": "CanaryJsonPassw0rd31!",
    "CanaryUrlPassw0rd882": "CanaryUrlPassw0rd882",
    "CanaryCliFlagPw0rd19": "CanaryCliFlagPw0rd19",
    "CanaryPemBodyLine0x9": "CanaryPemBodyLine0x9",
    "CanaryDockerEnvDbPw1": "CanaryDockerEnvDbPw1",
    "CanaryDockerEnvSeed2": "CanaryDockerEnvSeed2",
    "CanaryStackTraceKey3": "sk-CanaryStackTraceKey3aBcDeFgHiJkLmNoPqRsTu",
    "CanaryResourceTok3n4": "CanaryResourceTok3n4abc",
    "CanaryHeaderAuthz555": "CanaryHeaderAuthz555xyz",
}
S = SECRETS

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    f"{S['CanaryPemBodyLine0x9']}QyNTUxOQAAACBsZWFrZWQta2V5LWZvci10ZXN0cy1vbmx5AAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
DOCKER_INSPECT = json.dumps(
    [
        {
            "Id": "4f3c2b1a",
            "Name": "/db",
            "Config": {
                "Image": "postgres:16",
                "Env": [
                    f"POSTGRES_PASSWORD={S['CanaryDockerEnvDbPw1']}",
                    f"APP_SEED={S['CanaryDockerEnvSeed2']}",
                    "PATH=/usr/local/sbin:/usr/local/bin",
                ],
            },
        }
    ],
    indent=2,
)
ENV_FILE = (
    f"OPENAI_API_KEY={S['CanaryOpenAIlegacy8K']}\n"
    f"SLACK_BOT_TOKEN={S['CanarySlackTok3nAbCd']}\n"
    f"AWS_ACCESS_KEY_ID={S['CANARY7EXAMPLE12']}\n"
    f"aws_secret_access_key = {S['CanaryAwsSecretKey9z']}\n"
)
STACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/agent/tools.py", line 42, in call_api\n'
    f'    client = OpenAI(api_key="{S["CanaryStackTraceKey3"]}")\n'
    '  File "/srv/agent/http.py", line 7, in get\n'
    f"    headers={{'Authorization': 'Bearer {S['CanaryBearerOpaque55']}'}}\n"
    "PermissionError: 401 Unauthorized\n"
)


def _canary_request() -> tuple[object, bytes]:
    request = build_run_request(90, 1, 5)
    spans = request.message.resource_spans[0].scope_spans[0].spans
    request.message.resource_spans[0].resource.attributes.append(
        kv("deployment.api_token", S["CanaryResourceTok3n4"])
    )
    run, think, args_step, inspect_step, pem_step, env_step = spans
    run.attributes.append(
        kv(A.RUN_TASK, f"deploy from https://deploy:{S['CanaryUrlPassw0rd882']}@git.example.com/x")
    )
    run.attributes.append(kv(A.RUN_METADATA, json.dumps({"api_key": S["CanaryGithubPat77xYz"]})))
    run.status.CopyFrom(
        Status(
            code=Status.STATUS_CODE_ERROR,
            message=f"upstream refused Authorization: Bearer {S['CanaryJwtPayload0042']}",
        )
    )
    run.events.add(
        name="exception",
        time_unix_nano=run.start_time_unix_nano + 10,
        attributes=[
            kv("exception.type", "PermissionError"),
            kv("exception.message", f"bad key {S['CanaryAnthropic5Rt9u']}"),
            kv("exception.stacktrace", STACK),
        ],
    )
    think.name = f"chat key={S['CanaryOpenAIproj7Q2w']}"
    think.attributes.append(kv(A.STEP_THINKING, f"I will use token {S['CanaryGithubTok3n012']}"))
    args_step.name = f"execute_tool login --password={S['CanaryCliFlagPw0rd19']}"
    args_step.attributes.append(
        kv(
            A.GEN_AI_TOOL_CALL_ARGUMENTS,
            json.dumps({"user": "admin", "password": S["CanaryJsonPassw0rd31"]}),
        )
    )
    args_step.events.add(
        name="http.retry",
        time_unix_nano=args_step.start_time_unix_nano + 5,
        attributes=[kv("http.request.header.authorization", S["CanaryHeaderAuthz555"])],
    )
    inspect_step.attributes.append(kv(A.GEN_AI_TOOL_CALL_RESULT, DOCKER_INSPECT))
    pem_step.attributes.append(kv(A.GEN_AI_TOOL_CALL_RESULT, PEM))
    env_step.attributes.append(kv(A.GEN_AI_TOOL_CALL_RESULT, ENV_FILE))
    env_step.status.CopyFrom(
        Status(code=Status.STATUS_CODE_ERROR, message=f"cat .env failed: {ENV_FILE}")
    )
    for span in spans:  # the harness put its own value first; ours must win
        _keep_last(span)
    return request, request.protobuf()


def _keep_last(span: Span) -> None:
    seen: dict[str, int] = {}
    for index, attribute in enumerate(span.attributes):
        seen[attribute.key] = index
    kept = [span.attributes[i] for i in sorted(seen.values())]
    del span.attributes[:]
    span.attributes.extend(kept)


def _leaks(where: str, text: str) -> list[str]:
    return [f"{needle} in {where}" for needle in SECRETS if needle in text]


def test_no_planted_secret_comes_out_anywhere(tmp_path: Path) -> None:
    db = tmp_path / "canary.duckdb"
    collector = CollectorProcess(
        db, log_dir=tmp_path / "logs", extra_args=["--log-level", "DEBUG"]
    ).start()
    leaks: list[str] = []
    try:
        request, body = _canary_request()
        sender = HttpSender(collector.http_endpoint)
        try:
            assert sender.send(body).acked
            # The same secrets over JSON, and in a span the decoder rejects (a bad id
            # echoed in an error message must not reach the logs either).
            document = json.loads(build_run_request(90, 2, 0).json())
            span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
            span["spanId"] = S["CanaryOpenAIlegacy8K"]
            assert sender.send(json.dumps(document).encode(), content_type="application/json").acked
        finally:
            sender.close()
        api = collector.api_url
        run_id = request.run_id  # type: ignore[attr-defined]
        texts = {
            "GET /agent/runs": httpx.get(f"{api}/agent/runs").text,
            "GET /agent/runs?q=": httpx.get(f"{api}/agent/runs", params={"q": "deploy"}).text,
            "GET /agent/runs/{id}": httpx.get(f"{api}/agent/runs/{run_id}").text,
            "GET /agent/runs/{id}/steps": httpx.get(f"{api}/agent/runs/{run_id}/steps").text,
            "GET /agent/runs/stats": httpx.get(f"{api}/agent/runs/stats").text,
        }
        assert run_id in texts["GET /agent/runs/{id}"]
        # The tables /sql serves (span_chain is internal and refused there; the backup's
        # every column and the file's raw bytes below cover it).
        for table in ("spans", "agent_runs", "agent_steps", "cancel_requests"):
            response = httpx.post(f"{api}/sql", json={"sql": f"SELECT * FROM {table}"})
            if response.status_code != 200:  # reported, but the other searches still run
                leaks.append(f"POST /sql {table} could not be searched: {response.text[:200]}")
            texts[f"POST /sql {table}"] = response.text
        texts["GET /export"] = _export_text(httpx.get(f"{api}/export", timeout=60).content)
        backup = tmp_path / "backup-copy.duckdb"
        backup.write_bytes(httpx.get(f"{api}/backup", timeout=60).content)
        texts["GET /backup, raw bytes"] = backup.read_bytes().decode("latin-1")
        texts["GET /backup, every column"] = _whole_database_text(backup)
        for where, text in texts.items():
            leaks += _leaks(where, text)
        assert "[REDACTED]" in texts["GET /agent/runs/{id}"], "redaction markers expected"
        assert collector.terminate() == 0
    finally:
        collector.kill()
    leaks += _leaks("collector stdout", collector.stdout_text())
    leaks += _leaks("collector logs (stderr)", collector.stderr_text())
    for path in sorted(tmp_path.iterdir()):
        if path.is_file() and path.name.startswith("canary.duckdb"):
            leaks += _leaks(f"raw bytes of {path.name}", path.read_bytes().decode("latin-1"))
    leaks += _leaks("every column of every table", _whole_database_text(db))
    assert leaks == [], "\n".join(leaks)


def _export_text(tar_bytes: bytes) -> str:
    parts = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            if member.name.endswith(".parquet"):
                rows = pq.read_table(io.BytesIO(data)).to_pylist()
                parts.append(json.dumps(rows, default=str))
            else:
                parts.append(data.decode("utf-8", "replace"))
    assert parts, "the export should hold files"
    return "\n".join(parts)


def _whole_database_text(db: Path) -> str:
    parts = []
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            parts.append(json.dumps(rows, default=_plain))
    return "\n".join(parts)


def _plain(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def test_the_canary_is_visible_with_redaction_off(tmp_path: Path) -> None:
    # The control: with AGENT_AUDIT_REDACT=false every planted secret is stored, so the
    # search above really looks where the secrets go.
    from tests.conftest import start_test_collector

    handle = start_test_collector(tmp_path / "plain.duckdb", redact=False)
    try:
        _, body = _canary_request()
        sender = HttpSender(handle.http_endpoint)
        try:
            assert sender.send(body).acked
        finally:
            sender.close()
    finally:
        handle.stop()
    text = _whole_database_text(tmp_path / "plain.duckdb")
    assert [needle for needle in SECRETS if needle not in text] == []
