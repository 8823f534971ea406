"""Settings from the environment and the redaction of docker inspect output: pure parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssh_tools.errors import SettingsError, SSHToolError
from ssh_tools.redaction import redact_inspect_env
from ssh_tools.settings import ENV_VARIABLES, SSHSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "AGENT_AUDIT_SSH_HOST": "server.lan",
    "AGENT_AUDIT_SSH_USER": "agent-audit",
    "AGENT_AUDIT_SSH_KEY": "/etc/agent-audit/id_ed25519",
}


def test_settings_from_env_with_defaults() -> None:
    settings = SSHSettings.from_env(BASE)
    assert settings.host == "server.lan" and settings.port == 22
    assert settings.key_path == Path("/etc/agent-audit/id_ed25519")
    assert settings.known_hosts_path == Path("~/.ssh/known_hosts").expanduser()
    assert settings.policy_path is None
    assert (settings.timeout_s, settings.max_output_bytes) == (30.0, 256 * 1024)


def test_settings_from_env_read_every_variable() -> None:
    env = BASE | {
        "AGENT_AUDIT_SSH_PORT": "2222",
        "AGENT_AUDIT_SSH_KNOWN_HOSTS": "/etc/agent-audit/known_hosts",
        "AGENT_AUDIT_SSH_POLICY": "/etc/agent-audit/policy.json",
        "AGENT_AUDIT_SSH_TIMEOUT_S": "12.5",
        "AGENT_AUDIT_SSH_CONNECT_TIMEOUT_S": "3",
        "AGENT_AUDIT_SSH_MAX_OUTPUT_BYTES": "4096",
        "AGENT_AUDIT_SSH_RESTART_MIN_INTERVAL_S": "0",
    }
    assert set(env) == set(ENV_VARIABLES)
    settings = SSHSettings.from_env(env)
    assert settings.port == 2222 and settings.timeout_s == 12.5
    assert settings.connect_timeout_s == 3 and settings.max_output_bytes == 4096
    assert settings.policy_path == Path("/etc/agent-audit/policy.json")
    assert settings.restart_min_interval_s == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AGENT_AUDIT_SSH_HOST", "", "is required"),
        ("AGENT_AUDIT_SSH_KEY", " ", "is required"),
        ("AGENT_AUDIT_SSH_PORT", "ssh", "must be an integer"),
        ("AGENT_AUDIT_SSH_PORT", "70000", "from 1 to 65535"),
        ("AGENT_AUDIT_SSH_TIMEOUT_S", "soon", "number of seconds"),
        ("AGENT_AUDIT_SSH_TIMEOUT_S", "0", "positive"),
        ("AGENT_AUDIT_SSH_TIMEOUT_S", "nan", "positive"),
        ("AGENT_AUDIT_SSH_MAX_OUTPUT_BYTES", "10", "from 1024"),
        ("AGENT_AUDIT_SSH_RESTART_MIN_INTERVAL_S", "-1", "positive"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        SSHSettings.from_env(BASE | {variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)
    assert isinstance(caught.value, SSHToolError) and isinstance(caught.value, ValueError)


def test_every_setting_is_documented() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    for variable in ENV_VARIABLES:
        assert f"`{variable}`" in text, variable


INSPECT = json.dumps(
    [{"Config": {"Env": ['PASSWORD=hun]ter"2', "PATH=/usr/bin", "BARE", "X=a=b"], "Cmd": ["x"]}}],
    indent=4,
)


def test_env_values_are_replaced_and_everything_else_kept() -> None:
    redacted = redact_inspect_env(INSPECT)
    document = json.loads(redacted)
    assert document[0]["Config"]["Env"] == ["PASSWORD=***", "PATH=***", "BARE", "X=***"]
    assert document[0]["Config"]["Cmd"] == ["x"]
    assert "hun" not in redacted


@pytest.mark.parametrize("cut_at", range(40, len(INSPECT), 7))
def test_output_cut_anywhere_never_shows_a_value(cut_at: int) -> None:
    cut = INSPECT[:cut_at] + "\n[agent-audit: output cut at 100 of 300 bytes]\n"
    redacted = redact_inspect_env(cut)
    for fragment in ("hun", "ter", "/usr/bin", "a=b"):
        assert fragment not in redacted, (cut_at, redacted)
    assert redacted.endswith("[agent-audit: output cut at 100 of 300 bytes]\n")


def test_text_without_env_is_unchanged() -> None:
    assert redact_inspect_env("Error: No such object: web\n") == "Error: No such object: web\n"
