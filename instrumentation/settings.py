"""Where spans go: endpoint, protocol, API URL, token and spool, from arguments and environment.

One rule for the collector's address: it listens on a pair of ports, OTLP/gRPC on
P and OTLP/HTTP with the REST API on P + 1 (4317/4318 by default; ``agent-audit
up --port-offset N`` moves both). Whichever of the two addresses is given (an
OTLP endpoint or ``AGENT_AUDIT_API``), the other is derived from it; give both
when a proxy or custom ports break the pair.

Pure: reads the mapping it is given (``os.environ`` by default) and nothing else.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.util.re import parse_env_headers

from instrumentation import env as E

__all__ = [
    "DEFAULT_SPOOL_MAX_BYTES",
    "ExportSettings",
    "api_url_for_grpc",
    "grpc_endpoint_for_api",
    "resolve_export_settings",
]

DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
_PROTOCOLS = {"grpc": "grpc", "http": "http/protobuf", "http/protobuf": "http/protobuf"}


@dataclass(frozen=True, kw_only=True)
class ExportSettings:
    """Where and how spans go, resolved from arguments and the environment."""

    protocol: str  # "grpc" or "http/protobuf"
    endpoint: str  # full URL; for HTTP it ends with /v1/traces
    api_url: str | None
    token: str | None
    headers: Mapping[str, str] = field(default_factory=dict)  # OTEL_*HEADERS + authorization
    spool_dir: Path | None = None
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    # The batch processor's OTEL_BSP_* settings (SDK defaults when unset).
    bsp_schedule_delay_ms: float | None = None
    bsp_max_queue_size: int = 2048
    bsp_max_export_batch_size: int = 512


def _env_protocol(env: Mapping[str, str]) -> tuple[str | None, str]:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        if env.get(name):
            return env[name], name
    return None, "protocol"


def resolve_export_settings(
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    api_url: str | None = None,
    token: str | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_max_bytes: int | None = None,
    env: Mapping[str, str] = os.environ,
) -> ExportSettings:
    """Resolve the export settings; a bad value raises ValueError naming its source."""
    source = "protocol"
    if protocol is None:
        protocol, source = _env_protocol(env)
    resolved_protocol = _PROTOCOLS.get((protocol or "grpc").strip().lower())
    if resolved_protocol is None:
        raise ValueError(f"{source}={protocol!r}: expected grpc or http/protobuf")
    http = resolved_protocol == "http/protobuf"

    env_api = api_url or E.API.read(env) or None
    if env_api and urllib.parse.urlsplit(env_api).scheme not in ("http", "https"):
        raise ValueError(f"AGENT_AUDIT_API / api_url {env_api!r} is not an http(s) URL")
    if endpoint is None and env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        resolved_endpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]  # used as is (OTLP spec)
    else:
        base = endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""
        if not base:
            api_base = env_api or E.DEFAULT_API_URL
            base = api_base if http else grpc_endpoint_for_api(api_base)
        if "://" not in base:
            base = f"http://{base}"
        resolved_endpoint = _with_traces_path(base) if http else base
    parsed = urllib.parse.urlsplit(resolved_endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"OTLP endpoint {resolved_endpoint!r} is not an http(s) URL")

    token = token if token is not None else E.TOKEN.read(env)
    env_headers = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    headers: dict[str, str] = dict(parse_env_headers(env_headers, liberal=True))
    if token:
        headers["authorization"] = f"Bearer {token}"

    resolved_api = env_api or _derive_api_url(parsed, http=http)

    spool = spool_dir if spool_dir is not None else E.SPOOL_DIR.read(env)
    max_bytes = spool_max_bytes
    if max_bytes is None:
        raw = E.SPOOL_MAX_BYTES.read(env)
        try:
            max_bytes = int(raw) if raw else DEFAULT_SPOOL_MAX_BYTES
        except ValueError:
            raise ValueError(f"AGENT_AUDIT_SPOOL_MAX_BYTES={raw!r} is not an integer") from None
    if max_bytes <= 0:
        raise ValueError("the spool bound (AGENT_AUDIT_SPOOL_MAX_BYTES) must be positive")

    return ExportSettings(
        bsp_schedule_delay_ms=_positive_env(env, "OTEL_BSP_SCHEDULE_DELAY"),
        bsp_max_queue_size=int(_positive_env(env, "OTEL_BSP_MAX_QUEUE_SIZE") or 2048),
        bsp_max_export_batch_size=int(_positive_env(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE") or 512),
        protocol=resolved_protocol,
        endpoint=resolved_endpoint,
        api_url=resolved_api.rstrip("/") if resolved_api else None,
        token=token,
        headers=headers,
        spool_dir=Path(spool) if spool else None,
        spool_max_bytes=max_bytes,
    )


def _positive_env(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:  # NaN or infinity: no tick at all
        raise ValueError(f"{name}={raw!r} must be a positive finite number")
    return value


def _with_traces_path(base: str) -> str:
    if base.rstrip("/").endswith("/v1/traces"):
        return base
    return f"{base.rstrip('/')}/v1/traces"


def _derive_api_url(endpoint: urllib.parse.SplitResult, *, http: bool) -> str:
    if http:  # the REST API shares the OTLP/HTTP port
        return f"{endpoint.scheme}://{endpoint.netloc}"
    return api_url_for_grpc(endpoint.geturl())


def _port_of(parts: urllib.parse.SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        return port
    return 443 if parts.scheme == "https" else 80


def _with_port(parts: urllib.parse.SplitResult, port: int) -> str:
    host = parts.hostname or "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme or 'http'}://{host}:{port}"


def api_url_for_grpc(grpc_endpoint: str) -> str:
    """The REST API of the collector whose OTLP/gRPC endpoint this is: same host, port + 1."""
    parts = urllib.parse.urlsplit(
        grpc_endpoint if "://" in grpc_endpoint else f"http://{grpc_endpoint}"
    )
    return _with_port(parts, _port_of(parts) + 1)


def grpc_endpoint_for_api(api_url: str) -> str:
    """The OTLP/gRPC endpoint of the collector whose REST API this is: same host, port - 1."""
    parts = urllib.parse.urlsplit(api_url if "://" in api_url else f"http://{api_url}")
    return _with_port(parts, _port_of(parts) - 1)
