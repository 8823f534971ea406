"""The allowlist on its own: pure, no server needed."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_tools.allowlist import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_DATA,
    Policy,
    Refusal,
    check_argv,
    evaluate,
    load_policy,
    positional_arguments,
)
from ssh_tools.errors import PolicyError
from tests.ssh.escapes import ESCAPE_COMMANDS

REPO_ROOT = Path(__file__).resolve().parents[2]

ALLOWED = {
    "docker ps": ("docker", "ps"),
    "docker ps -a": ("docker", "ps", "-a"),
    "docker ps --all --no-trunc": ("docker", "ps", "--all", "--no-trunc"),
    "docker ps --filter status=exited": ("docker", "ps", "--filter", "status=exited"),
    "docker ps --filter=name=web": ("docker", "ps", "--filter=name=web"),
    "docker logs --tail 50 web": ("docker", "logs", "--tail", "50", "web"),
    "docker logs -n 0 web": ("docker", "logs", "-n", "0", "web"),
    "docker logs --tail=5000 -t web": ("docker", "logs", "--tail=5000", "-t", "web"),
    "docker logs --tail 10 --since 1h30m web": (
        "docker",
        "logs",
        "--tail",
        "10",
        "--since",
        "1h30m",
        "web",
    ),
    "docker logs --tail 10 --since 2024-05-01T12:00:00Z db": (
        "docker",
        "logs",
        "--tail",
        "10",
        "--since",
        "2024-05-01T12:00:00Z",
        "db",
    ),
    "docker logs web --tail 3": ("docker", "logs", "web", "--tail", "3"),
    "docker logs --tail 3 3f4e8d2c1a9b": ("docker", "logs", "--tail", "3", "3f4e8d2c1a9b"),
    "docker inspect my_app.worker-1": ("docker", "inspect", "my_app.worker-1"),
    "docker stats --no-stream": ("docker", "stats", "--no-stream"),
    "docker stats --no-stream web db": ("docker", "stats", "--no-stream", "web", "db"),
    "docker restart web": ("docker", "restart", "web"),
    "docker restart --time 5 web": ("docker", "restart", "--time", "5", "web"),
    "docker top web": ("docker", "top", "web"),
    "docker version": ("docker", "version"),
    "  docker   ps  ": ("docker", "ps"),
}


@pytest.mark.parametrize("command", list(ALLOWED))
def test_allowed_commands_give_their_argv(command: str) -> None:
    assert evaluate(command) == ALLOWED[command]


@pytest.mark.parametrize("name", list(ESCAPE_COMMANDS))
def test_every_escape_is_refused_with_a_one_line_reason(name: str) -> None:
    decision = evaluate(ESCAPE_COMMANDS[name])
    assert isinstance(decision, Refusal)
    assert decision.reason and "\n" not in decision.reason and len(decision.reason) < 200


@pytest.mark.parametrize(
    ("command", "reason_part"),
    [
        ("docker ps; id", "character ';' is not allowed"),
        ("dock\u0435r ps", "non-ASCII character U+0435"),
        ("docker ps\nid", "control or space character 0x0a"),
        ("docker exec web sh", "subcommand 'exec' is not allowed"),
        ("docker -H x ps", "global docker options are not allowed"),
        ("docker logs web", "requires --tail"),
        ("docker stats web", "requires --no-stream"),
        ("docker logs --tail 5001 web", "from 0 to 5000"),
        ("docker logs -f --tail 5 web", "option '-f' is not allowed for docker logs"),
        ("docker ps --format x", "option '--format' is not allowed"),
        ("docker logs --tail 5 --tail 6 web", "given twice"),
        ("docker logs --tail 5 web db", "exactly 1 argument"),
        ("docker logs -n=5 web", "write -n VALUE"),
        ("docker ps -a=1", "takes no value"),
        ("docker logs --tail", "needs a value"),
        ("docker logs --tail 5 --since yesterday web", "not a valid time"),
        ("docker restart --time 999 web", "from 0 to 120"),
        ("docker", "needs a subcommand"),
        ("ls", "only 'docker' commands"),
        ("docker logs --tail 5 " + "a" * 200, "longer than 128"),
        ("x" * 513, "longer than 512 characters"),
    ],
)
def test_refusal_reasons_say_what_is_wrong(command: str, reason_part: str) -> None:
    decision = evaluate(command)
    assert isinstance(decision, Refusal)
    assert reason_part in decision.reason


def test_check_argv_names_the_bad_argument() -> None:
    decision = check_argv(["docker", "logs", "--tail", "50", "web; id"])
    assert decision == Refusal("argument 'web; id': character ';' is not allowed")
    assert isinstance(check_argv(["docker", "logs", "--tail", "50", "web db"]), Refusal)
    assert isinstance(check_argv(["docker", "ps", ""]), Refusal)
    assert check_argv(["docker", "ps", "--all"]) == ("docker", "ps", "--all")


def test_positional_arguments_skip_option_values() -> None:
    assert positional_arguments(["docker", "restart", "--time", "5", "web"]) == ("web",)
    assert positional_arguments(["docker", "restart", "web", "-t", "5"]) == ("web",)
    with pytest.raises(ValueError, match="not allowed"):
        positional_arguments(["docker", "rm", "web"])


def test_default_policy_file_matches_the_built_in_policy() -> None:
    on_disk = json.loads((REPO_ROOT / "ssh_tools" / "default_policy.json").read_text())
    assert on_disk == DEFAULT_POLICY_DATA
    assert load_policy(REPO_ROOT / "ssh_tools" / "default_policy.json").data == DEFAULT_POLICY.data


def test_a_policy_file_changes_what_is_allowed(tmp_path: Path) -> None:
    data = json.loads(json.dumps(DEFAULT_POLICY_DATA))
    del data["subcommands"]["restart"]
    data["shapes"]["tail"]["max"] = 100
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    policy = load_policy(path)
    assert isinstance(evaluate("docker restart web", policy), Refusal)
    assert isinstance(evaluate("docker logs --tail 101 web", policy), Refusal)
    assert evaluate("docker logs --tail 100 web", policy) == (
        "docker",
        "logs",
        "--tail",
        "100",
        "web",
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=2), "version must be 1"),
        (lambda d: d.update(program="/usr/bin/docker"), "plain command name"),
        (lambda d: d.update(allowed_punctuation=" ;"), "allowed_punctuation may only hold"),
        (lambda d: d.update(extra=1), "unknown keys"),
        (lambda d: d["shapes"].update(bad={"pattern": "("}), "does not compile"),
        (
            lambda d: d["subcommands"]["logs"]["flags"]["--tail"].update(value="nope"),
            "unknown shape",
        ),
        (lambda d: d["subcommands"]["ps"].update(required=["--format"]), "required must list"),
        (lambda d: d["subcommands"]["ps"]["flags"].update({"format": {}}), "not a flag spelling"),
        (lambda d: d.update(subcommands={}), "nothing would be allowed"),
    ],
)
def test_bad_policies_are_rejected_with_the_source_named(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(DEFAULT_POLICY_DATA))
    mutate(data)
    with pytest.raises(PolicyError, match=message) as caught:
        Policy.from_data(data, source="my-policy.json")
    assert str(caught.value).startswith("my-policy.json: ")


def test_unreadable_or_invalid_policy_files_raise_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policy(tmp_path / "bad.json")


def test_allowlist_and_gateway_import_only_the_standard_library() -> None:
    code = (
        "import sys; import ssh_tools.gateway, ssh_tools.allowlist; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'paramiko', 'opentelemetry', 'instrumentation', 'cryptography'}]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


_FORBIDDEN = set(";&|`$()<>\\'\"{}*?!~#\n\r\t\x00/")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["docker", "ps", "logs", "restart", "-a", "--tail", "5", "web", "$(id)", ";", "|", "'"]
        )
        | st.text(max_size=12),
        max_size=8,
    ).map(" ".join)
)
def test_admitted_commands_never_hold_shell_syntax_and_round_trip(command: str) -> None:
    decision = evaluate(command)
    if isinstance(decision, Refusal):
        return
    assert decision[0] == "docker" and decision[1] in DEFAULT_POLICY.subcommands
    assert not _FORBIDDEN & set(command)
    assert command.isascii()
    # What the client sends is exactly what the gateway will run.
    assert evaluate(shlex.join(decision)) == decision
