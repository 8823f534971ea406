"""docker-compose.yml, Dockerfile and otel-config.yaml, parsed and checked (no docker engine here).

Each service's command is parsed by the real ``agent-audit`` subcommand parser and
its environment by the real settings classes, so a renamed flag or variable fails here.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.settings import AgentSettings
from collector.cli import COMMANDS
from collector.settings import Settings as CollectorSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
OTEL = yaml.safe_load((REPO_ROOT / "otel-config.yaml").read_text())
OUR_SERVICES = ("collector", "dashboard", "agent")
_CONFIG_LINE = re.compile(r"^ *([\w/.-]+:( |$)|#)")
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against ``env``."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if operator and operator.endswith("?"):
            raise KeyError(f"{name} is required: {argument}")
        return argument or ""

    return _VARIABLE.sub(value, text)


def service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    raw = COMPOSE["services"][name].get("environment") or {}
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def parse_command(name: str) -> tuple[str, argparse.Namespace]:
    command = COMPOSE["services"][name]["command"]
    subcommand = command[0]
    module = COMMANDS[subcommand].load()
    parser = argparse.ArgumentParser(prog=f"agent-audit {subcommand}", exit_on_error=False)
    module.add_arguments(parser)
    return subcommand, parser.parse_args(command[1:])


def mounts(name: str) -> dict[str, tuple[str, str]]:
    """Container path -> (source, options) of a service's volumes."""
    result = {}
    for entry in COMPOSE["services"][name].get("volumes") or []:
        source, target, *options = interpolate(entry, {}).split(":")
        result[target] = (source, options[0] if options else "rw")
    return result


def test_services_and_profiles() -> None:
    services = COMPOSE["services"]
    for name in OUR_SERVICES:
        assert "profiles" not in services[name], f"{name} runs by default"
        assert interpolate(services[name]["image"], {}) == "agent-audit:latest"
        assert services[name]["build"] == "."
    assert services["otelcol"]["profiles"] == ["otelcol"]
    assert "opentelemetry-collector-contrib" in services["otelcol"]["image"]


def test_published_ports_are_loopback_only() -> None:
    published = []
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports") or []:
            published.append((name, port))
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert {port.split(":")[-1] for _, port in published} >= {"4317", "4318", "8501", "8000"}


def test_a_token_is_required_wherever_a_service_binds_all_interfaces() -> None:
    for name in (*OUR_SERVICES, "otelcol"):
        raw = str(COMPOSE["services"][name]["environment"]["AGENT_AUDIT_TOKEN"])
        assert raw.startswith("${AGENT_AUDIT_TOKEN:?"), f"{name} must refuse to start without it"
        with pytest.raises(KeyError, match="AGENT_AUDIT_TOKEN"):
            service_env(name, {})


def test_collector_service() -> None:
    service = COMPOSE["services"]["collector"]
    subcommand, args = parse_command("collector")
    assert subcommand == "collector"
    assert args.host == "0.0.0.0"
    data_source, mode = mounts("collector")["/data"]
    assert data_source in COMPOSE["volumes"] and mode == "rw"
    assert str(args.db).startswith("/data/")
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    assert "4318" in " ".join(service["healthcheck"]["test"])
    env = service_env("collector", {"AGENT_AUDIT_TOKEN": "t0ken-long-enough-16"})
    settings = CollectorSettings.from_env(env).with_overrides(host=args.host, db_path=args.db)
    assert settings.token == "t0ken-long-enough-16"  # 0.0.0.0 is accepted only because of it


def test_dashboard_service() -> None:
    subcommand, args = parse_command("dashboard")
    assert subcommand == "dashboard"
    assert args.host == "0.0.0.0"
    assert args.api == "http://collector:4318"
    depends = COMPOSE["services"]["dashboard"]["depends_on"]
    assert depends["collector"]["condition"] == "service_healthy"


def test_agent_service_with_ssh_key_mounted_read_only() -> None:
    service = COMPOSE["services"]["agent"]
    subcommand, args = parse_command("agent")
    assert subcommand == "agent"
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    env = service_env("agent", {"AGENT_AUDIT_TOKEN": "t0ken", "AGENT_AUDIT_SSH_HOST": "nas"})
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    assert env["AGENT_AUDIT_API"] == "http://collector:4318"
    volumes = mounts("agent")
    key_source, key_mode = volumes[env["AGENT_AUDIT_SSH_KEY"]]
    hosts_source, hosts_mode = volumes[env["AGENT_AUDIT_SSH_KNOWN_HOSTS"]]
    assert (key_mode, hosts_mode) == ("ro", "ro")
    assert key_source and hosts_source
    assert volumes[env["AGENT_AUDIT_AGENT_DATA_DIR"]][0] in COMPOSE["volumes"]
    settings = AgentSettings.from_env(env).with_overrides(host=args.host, port=args.port)
    assert settings.ssh is not None
    assert str(settings.ssh.key_path) == env["AGENT_AUDIT_SSH_KEY"]
    assert settings.spool_dir == Path("/data/spool")  # spans kept while the collector is down
    assert settings.llm_base_url.startswith("http://host.docker.internal")
    assert "host.docker.internal:host-gateway" in service["extra_hosts"]
    assert service["depends_on"]["collector"]["condition"] == "service_healthy"
    # Without an SSH host the agent still starts, without the docker tools.
    no_ssh = service_env("agent", {"AGENT_AUDIT_TOKEN": "t0ken"})
    assert AgentSettings.from_env(no_ssh).ssh is None


def test_otelcol_service_uses_the_config_file() -> None:
    service = COMPOSE["services"]["otelcol"]
    (config_flag,) = [c for c in service["command"] if c.startswith("--config=")]
    target = config_flag.split("=", 1)[1]
    source, mode = mounts("otelcol")[target]
    assert (REPO_ROOT / source).resolve() == REPO_ROOT / "otel-config.yaml"
    assert mode == "ro"
    queue_dir = OTEL["extensions"]["file_storage/queue"]["directory"]
    assert mounts("otelcol")[queue_dir][0] in COMPOSE["volumes"]  # the queue outlives the container
    container_ports = {port.split(":")[-1] for port in service["ports"]}
    receivers = OTEL["receivers"]["otlp"]["protocols"]
    assert {
        receivers["grpc"]["endpoint"].split(":")[-1],
        receivers["http"]["endpoint"].split(":")[-1],
    } == container_ports


def test_dockerfile_builds_the_package_as_a_non_root_user() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    assert re.search(r'^ENTRYPOINT \["agent-audit"\]', text, re.M)
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    copied = set(re.findall(r"^COPY (\S+) ", text, re.M))
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
    assert "README.md" in text  # pyproject's readme, needed by the build
    exposed = set(re.search(r"^EXPOSE (.+)$", text, re.M).group(1).split())  # type: ignore[union-attr]
    assert exposed == {"4317", "4318", "8501", "8000"}


def test_otel_config_pipeline() -> None:
    receivers = OTEL["receivers"]["otlp"]["protocols"]
    assert set(receivers) == {"grpc", "http"}
    assert set(OTEL["processors"]) == {"memory_limiter", "batch"}
    pipeline = OTEL["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert pipeline["processors"] == ["memory_limiter", "batch"]  # the limiter comes first
    assert pipeline["exporters"] == ["otlp/agent-audit"]
    exporter: dict[str, Any] = OTEL["exporters"]["otlp/agent-audit"]
    assert exporter["endpoint"].endswith("collector:4317}")
    assert exporter["headers"]["authorization"] == "Bearer ${env:AGENT_AUDIT_TOKEN}"
    assert exporter["retry_on_failure"]["enabled"] is True
    queue = exporter["sending_queue"]
    assert queue["enabled"] is True
    assert queue["storage"] in OTEL["extensions"]
    assert queue["storage"].startswith("file_storage")
    assert queue["storage"] in OTEL["service"]["extensions"]


def commented_block(marker: str) -> dict[str, Any]:
    """The commented-out exporter after ``marker``, uncommented and parsed."""
    lines = (REPO_ROOT / "otel-config.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line) + 1
    block = []
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        content = line.split("#", 1)[1][1:]
        if _CONFIG_LINE.match(content):
            block.append(content)  # other lines are prose
    parsed = yaml.safe_load("\n".join(block))
    assert isinstance(parsed, dict), block
    return parsed


def test_commented_fan_out_and_load_balancing_options_are_valid_config() -> None:
    fan_out = commented_block("--- Fan-out")
    (name,) = fan_out
    assert name.startswith("otlphttp/")
    assert fan_out[name]["sending_queue"]["enabled"] is True
    balancing = commented_block("--- Load balancing")
    exporter = balancing["loadbalancing/agent-audit"]
    assert exporter["routing_key"] == "traceID"
    assert exporter["resolver"]["static"]["hostnames"]
    assert exporter["protocol"]["otlp"]["retry_on_failure"]["enabled"] is True
