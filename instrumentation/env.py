"""Every ``AGENT_AUDIT_*`` environment variable, declared once.

Stdlib only, so every package can read through it (the instrumentation may
import nothing but OpenTelemetry and the standard library). Each :class:`Variable`
names its default as the README shows it, a one-line doc, the components that
read it, and a parser whose errors name the variable. tests/test_env_docs.py
checks the README's settings tables against :data:`VARIABLES`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_API_URL",
    "EnvError",
    "Variable",
    "VARIABLES",
    "api_url",
    "boolean",
    "integer",
    "number",
    "required",
    "text",
]


class EnvError(ValueError):
    """An environment variable has a bad value; the message names it.

    ``variable`` and ``problem`` are set by the parsers the agent and the SSH tools
    use, whose own SettingsError carries them apart.
    """

    def __init__(self, message: str, *, variable: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.variable = variable
        self.problem = problem


def _refused(name: str, problem: str) -> EnvError:
    return EnvError(f"{name} {problem}", variable=name, problem=problem)


Parser = Callable[[str, str], Any]  # (name, raw value) -> value; raises EnvError


def text(name: str, raw: str) -> str:
    return raw


def _bounded(
    convert: Callable[[str], float], what: str, minimum: float, *, strict: bool = False
) -> Parser:
    def parse(name: str, raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            raise EnvError(f"{name}={raw!r} is not {what}") from None
        if value < minimum or (strict and value == minimum):
            raise EnvError(f"{name}={value} must be {'>' if strict else '>='} {minimum}")
        return value

    return parse


def integer(minimum: int = 0) -> Parser:
    """Parser of a whole number no smaller than ``minimum``."""
    return _bounded(int, "an integer", minimum)


def number(minimum: float = 0.0) -> Parser:
    """Parser of a decimal number no smaller than ``minimum``."""
    return _bounded(float, "a number", minimum)


# A decimal number above zero.
positive = _bounded(float, "a number", 0, strict=True)


def boolean(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise EnvError(f"{name}={raw!r} is not a boolean (use true or false)")


def between(low: int, high: int) -> Parser:
    """Parser of a whole number from ``low`` to ``high``."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise _refused(name, f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise _refused(name, f"must be from {low} to {high}, got {value}")
        return value

    return parse


def seconds(*, allow_zero: bool = False) -> Parser:
    """Parser of a finite number of seconds above zero (or zero, if allowed)."""

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise _refused(name, f"must be a number of seconds, got {raw!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise _refused(name, f"must be a positive number of seconds, got {raw!r}")
        return value

    return parse


def switch(name: str, raw: str) -> bool:
    """true/false, yes/no, on/off or 1/0, in any case."""
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise _refused(name, f"must be true or false, got {lowered!r}")


def nonblank(name: str, raw: str) -> str:
    """The value without surrounding spaces; only spaces is an error, not "unset"."""
    if not raw.strip():
        raise _refused(name, "is blank")
    return raw.strip()


def comma_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def regex_list(name: str, raw: str) -> tuple[str, ...]:
    """A JSON array of regular expressions, each compiled to check it."""
    try:
        patterns = json.loads(raw)
    except ValueError:
        raise EnvError(f"{name} must be a JSON array of regular expressions") from None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise EnvError(f"{name} must be a JSON array of regular expressions")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise EnvError(
                f"{name}: {pattern!r} is not a valid regular expression: {exc}"
            ) from None
    return tuple(patterns)


@dataclass(frozen=True)
class Variable:
    """One variable: ``default`` is the value when unset or empty.

    With ``trim`` the value loses its surrounding spaces first, so only spaces
    count as unset too.
    """

    name: str
    default: Any
    doc: str
    readers: tuple[str, ...]
    parse: Parser = text
    trim: bool = False

    def read(self, env: Mapping[str, str] = os.environ) -> Any:
        raw = env.get(self.name)
        if raw is not None and self.trim:
            raw = raw.strip()
        if raw is None or raw == "":
            return self.default
        return self.parse(self.name, raw)


def set_but_blank(variable: Variable, env: Mapping[str, str] = os.environ) -> bool:
    """True when the variable is present but empty or only spaces (a likely mistake)."""
    raw = env.get(variable.name)
    return raw is not None and not raw.strip()


def required(variable: Variable, env: Mapping[str, str] = os.environ) -> Any:
    """The variable's value; unset (or only spaces) is an error naming it."""
    value = variable.read(env)
    if value is None:
        raise _refused(variable.name, "is required")
    return value


_C = ("collector",)
_I = ("instrumentation",)
_D = ("dashboard",)
_A = ("agent",)
_S = ("ssh_tools",)

# --- collector ---
DB = Variable("AGENT_AUDIT_DB", "agent_audit.duckdb", "DuckDB file", _C)
HOST = Variable("AGENT_AUDIT_HOST", "127.0.0.1", "address to bind", _C)
GRPC_PORT = Variable("AGENT_AUDIT_GRPC_PORT", 4317, "OTLP/gRPC port", _C, integer())
HTTP_PORT = Variable("AGENT_AUDIT_HTTP_PORT", 4318, "OTLP/HTTP and API port", _C, integer())
TOKEN = Variable(
    "AGENT_AUDIT_TOKEN",
    None,
    "bearer token required by the servers and sent by their clients",
    ("collector", "instrumentation", "dashboard", "agent"),
)
MAX_REQUEST_BYTES = Variable(
    "AGENT_AUDIT_MAX_REQUEST_BYTES",
    16 * 1024 * 1024,
    "largest request body after decompression",
    _C,
    integer(minimum=1024),
)
MAX_INFLIGHT_BYTES = Variable(
    "AGENT_AUDIT_MAX_INFLIGHT_BYTES",
    64 * 1024 * 1024,
    "memory the OTLP receivers' request bodies may cost at once (each byte charged 2 to 3 "
    "times, a gRPC call at the largest message before it is read); past it a request waits "
    "up to 2 s, then is answered retry later (503 / UNAVAILABLE) unless it is the only one",
    _C,
    integer(minimum=1024),
)
MAX_REQUEST_SPANS = Variable(
    "AGENT_AUDIT_MAX_REQUEST_SPANS",
    50_000,
    "most spans in one OTLP request; more is refused whole (400 / INVALID_ARGUMENT)",
    _C,
    integer(minimum=1),
)
MAX_REQUEST_PARTS = Variable(
    "AGENT_AUDIT_MAX_REQUEST_PARTS",
    500_000,
    "most parts (spans, events, links, attributes and their values) in one OTLP request; "
    "more is refused whole before it is decoded",
    _C,
    integer(minimum=1),
)
MAX_QUEUED_SPANS = Variable(
    "AGENT_AUDIT_MAX_QUEUED_SPANS",
    200_000,
    "spans waiting for the writer before ingest answers retry later",
    _C,
    integer(minimum=1),
)
COMMIT_MAX_SPANS = Variable(
    "AGENT_AUDIT_COMMIT_MAX_SPANS",
    20_000,
    "most spans in one transaction",
    _C,
    integer(minimum=1),
)
GRPC_WORKERS = Variable(
    "AGENT_AUDIT_GRPC_WORKERS",
    8,
    "threads that decode and store gRPC requests (a call still arriving holds none)",
    _C,
    integer(minimum=1),
)
REQUEST_TIMEOUT_S = Variable(
    "AGENT_AUDIT_REQUEST_TIMEOUT_S",
    60.0,
    "an HTTP request must arrive within this; a gRPC connection lives at most 5 times this",
    _C,
    positive,
)
LOST_AFTER_S = Variable(
    "AGENT_AUDIT_LOST_AFTER_S",
    300.0,
    "a running run silent this long is marked lost",
    _C,
    number(minimum=1.0),
)
SQL_MAX_ROWS = Variable(
    "AGENT_AUDIT_SQL_MAX_ROWS", 10_000, "row limit of POST /sql", _C, integer(minimum=1)
)
SQL_TIMEOUT_S = Variable(
    "AGENT_AUDIT_SQL_TIMEOUT_S", 10.0, "time limit of POST /sql", _C, number(0.1)
)
SQL_MAX_BYTES = Variable(
    "AGENT_AUDIT_SQL_MAX_BYTES",
    16 * 1024 * 1024,
    "JSON bytes of one POST /sql result",
    _C,
    integer(minimum=1024),
)
SQL_MEMORY_MB = Variable(
    "AGENT_AUDIT_SQL_MEMORY_MB",
    512,
    "DuckDB memory limit of the /sql worker process",
    _C,
    integer(minimum=64),
)
SQL_TEMP_MB = Variable(
    "AGENT_AUDIT_SQL_TEMP_MB", 1024, "disk the /sql worker may spill to", _C, integer()
)
SQL_ADDRESS_SPACE_MB = Variable(
    "AGENT_AUDIT_SQL_ADDRESS_SPACE_MB",
    2048,
    "address-space limit of the /sql worker process (0: none)",
    _C,
    integer(),
)
SQL_COPY_WAIT_S = Variable(
    "AGENT_AUDIT_SQL_COPY_WAIT_S",
    5.0,
    "how long a /sql query waits for the worker's copy before a 503 with progress",
    _C,
    number(0.0),
)
SQL_COPY_AT_START = Variable(
    "AGENT_AUDIT_SQL_COPY_AT_START",
    False,
    "build the /sql worker's copy at start rather than at the first query",
    _C,
    boolean,
)
SQL_COPY_DIR = Variable(
    "AGENT_AUDIT_SQL_COPY_DIR",
    None,
    "folder (0700) of the /sql worker's kept copies and scratch folders; "
    "default $TMPDIR/agent-audit-sql.<uid>",
    _C,
    trim=True,
)
SQL_COPY_KEEP_DAYS = Variable(
    "AGENT_AUDIT_SQL_COPY_KEEP_DAYS",
    7.0,
    "a kept /sql copy unused this long (or whose store is gone) is removed at a start",
    _C,
    number(0.0),
)
# Read by the collector before storing and by the instrumentation before export
# and spool (instrumentation/span_redaction.py): the same policy at both ends.
_CI = ("collector", "instrumentation")
MAX_ATTRIBUTE_BYTES = Variable(
    "AGENT_AUDIT_MAX_ATTRIBUTE_BYTES",
    64 * 1024,
    "longer string values are cut to a preview",
    _CI,
    integer(minimum=256),
)
REDACT = Variable(
    "AGENT_AUDIT_REDACT", True, "redact secrets before storing, exporting or spooling", _CI, boolean
)
REDACT_WIRE = Variable(
    "AGENT_AUDIT_REDACT_WIRE",
    False,
    "in the agent, redact spans before they are sent too, not only before the spool",
    ("instrumentation",),
    boolean,
)
REDACT_PATTERNS = Variable(
    "AGENT_AUDIT_REDACT_PATTERNS", (), "extra regular expressions to redact", _CI, regex_list
)
REDACT_KEYS = Variable(
    "AGENT_AUDIT_REDACT_KEYS",
    (),
    "extra attribute keys whose values are secret",
    _CI,
    comma_list,
)
REDACT_BUDGET_MS = Variable(
    "AGENT_AUDIT_REDACT_BUDGET_MS",
    500,
    "redaction time per request or batch; then whole values are redacted",
    _CI,
    integer(minimum=1),
)
RETENTION_DAYS = Variable(
    "AGENT_AUDIT_RETENTION_DAYS", 0.0, "delete finished runs older than this", _C, number()
)
STARTUP_READ_CHECK = Variable(
    "AGENT_AUDIT_STARTUP_READ_CHECK", True, "read every stored block at start", _C, boolean
)
DB_MEMORY_MB = Variable(
    "AGENT_AUDIT_DB_MEMORY_MB", 256, "DuckDB's memory limit", _C, integer(minimum=64)
)
DB_MEMORY_MAX_MB = Variable(
    "AGENT_AUDIT_DB_MEMORY_MAX_MB",
    0,
    "how far DuckDB's memory limit may be raised when ingest or a read runs out (0: half the RAM)",
    _C,
    integer(minimum=0),
)
DB_THREADS = Variable(
    "AGENT_AUDIT_DB_THREADS",
    1,
    "DuckDB's worker threads (0: one per core)",
    _C,
    integer(minimum=0),
)
DB_CHECKPOINT_MB = Variable(
    "AGENT_AUDIT_DB_CHECKPOINT_MB",
    256,
    "WAL size in MB at which DuckDB checkpoints; rows not yet checkpointed stay in its memory",
    _C,
    integer(minimum=1),
)
MALLOC_ARENAS = Variable(
    "AGENT_AUDIT_MALLOC_ARENAS",
    4,
    "glibc malloc arenas of the collector process, set at its start (0: glibc's default)",
    _C,
    integer(minimum=0),
)
MALLOC_MMAP_KB = Variable(
    "AGENT_AUDIT_MALLOC_MMAP_KB",
    0,
    "allocations of at least this many KiB get their own pages from glibc, returned when freed "
    "(0: glibc's default, a threshold that grows with the blocks freed)",
    _C,
    integer(minimum=0),
)
STORE = Variable(
    "AGENT_AUDIT_STORE",
    "duckdb",
    "duckdb[:PATH] (one file) or ducklake:postgres://... (a lake shared by collectors)",
    _C,
)
LAKE_DATA_PATH = Variable(
    "AGENT_AUDIT_LAKE_DATA_PATH",
    None,
    "where the lake's Parquet files live (a shared directory or object-store prefix)",
    _C,
)
COLLECTOR_ID = Variable(
    "AGENT_AUDIT_COLLECTOR_ID",
    None,
    "this collector's name in the lake; a new file gets a random one",
    _C,
)
LAKE_SHIP_INTERVAL_S = Variable(
    "AGENT_AUDIT_LAKE_SHIP_INTERVAL_S",
    0.5,
    "how often committed spans are shipped to the lake",
    _C,
    positive,
)
LAKE_COMPACT_EVERY_S = Variable(
    "AGENT_AUDIT_LAKE_COMPACT_EVERY_S",
    300.0,
    "how often the lake is compacted",
    _C,
    number(minimum=1.0),
)
LAKE_INLINE_ROWS = Variable(
    "AGENT_AUDIT_LAKE_INLINE_ROWS",
    0,
    "a lake insert of up to this many rows stays in the catalog until compaction",
    _C,
    integer(),
)
INSTANCE_ID = Variable(
    "AGENT_AUDIT_INSTANCE_ID", None, "the instance_id /healthz reports (random per start)", _C
)
PRICES = Variable(
    "AGENT_AUDIT_PRICES", None, "model prices file (TOML or JSON) that overrides the table", _C
)
SEARCH_INDEX = Variable(
    "AGENT_AUDIT_SEARCH_INDEX",
    True,
    "keep a live full-text index of runs beside the database, for q",
    _C,
    boolean,
)

CHAIN_KEY = Variable(
    "AGENT_AUDIT_CHAIN_KEY",
    None,
    "file of the hash chain's HMAC key (created 0600 at first start; default <db>.key)",
    ("collector",),
)

# --- instrumentation ---
API = Variable(
    "AGENT_AUDIT_API",
    None,
    "the collector's REST API",
    ("instrumentation", "dashboard", "agent"),
)
SPOOL_DIR = Variable(
    "AGENT_AUDIT_SPOOL_DIR",
    None,
    "directory of the on-disk spool",
    ("instrumentation", "agent"),
)
SPOOL_MAX_BYTES = Variable("AGENT_AUDIT_SPOOL_MAX_BYTES", None, "the spool's size bound", _I)

# Where a client finds the collector when AGENT_AUDIT_API is unset: the local
# collector's OTLP/HTTP port, which also serves the REST API.
DEFAULT_API_URL = f"http://127.0.0.1:{HTTP_PORT.default}"


def api_url(env: Mapping[str, str] = os.environ) -> str:
    """The collector's REST API: ``AGENT_AUDIT_API`` or the local collector."""
    return str(API.read(env) or DEFAULT_API_URL)


# --- dashboard ---
DASHBOARD_PORT = Variable(
    "AGENT_AUDIT_DASHBOARD_PORT", 8501, "agent-audit up's dashboard port", _D, integer()
)
PORT_OFFSET = Variable(
    "AGENT_AUDIT_PORT_OFFSET", 0, "agent-audit up adds it to each default port", _D, integer()
)
DASHBOARD_REFRESH_S = Variable(
    "AGENT_AUDIT_DASHBOARD_REFRESH_S", 2.0, "how often live parts refresh", _D, positive
)
DASHBOARD_TIMEOUT_S = Variable(
    "AGENT_AUDIT_DASHBOARD_TIMEOUT_S", 5.0, "per request to the API", _D, positive
)
DASHBOARD_PREVIEW_WAIT_S = Variable(
    "AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S",
    2.0,
    "how long a page document stays open for the data of its preview (0: no preview)",
    _D,
    seconds(allow_zero=True),
)

# --- agent service ---
LLM_BASE_URL = Variable(
    "AGENT_AUDIT_LLM_BASE_URL", "http://127.0.0.1:11434/v1", "OpenAI-compatible API", _A, nonblank
)
LLM_API_KEY = Variable("AGENT_AUDIT_LLM_API_KEY", "unused", "the model server's key", _A, nonblank)
LLM_MODEL = Variable(
    "AGENT_AUDIT_LLM_MODEL", "qwen2.5-coder", "model when a request names none", _A, nonblank
)
LLM_PROVIDER = Variable(
    "AGENT_AUDIT_LLM_PROVIDER", None, "gen_ai.provider.name of model calls", _A, trim=True
)
LLM_BACKEND = Variable(
    "AGENT_AUDIT_LLM_BACKEND", None, "the machine serving the model", _A, trim=True
)
LLM_TIMEOUT_S = Variable(
    "AGENT_AUDIT_LLM_TIMEOUT_S", 120.0, "per model call", _A, seconds(), trim=True
)
LLM_MAX_RETRIES = Variable(
    "AGENT_AUDIT_LLM_MAX_RETRIES", 1, "retries per model call", _A, between(0, 5), trim=True
)
AGENT_HOST = Variable(
    "AGENT_AUDIT_AGENT_HOST", "127.0.0.1", "where the agent service listens", _A, nonblank
)
AGENT_PORT = Variable(
    "AGENT_AUDIT_AGENT_PORT", 8000, "the agent service's port", _A, between(0, 65535), trim=True
)
AGENT_NAME = Variable(
    "AGENT_AUDIT_AGENT_NAME", "container-ops", "gen_ai.agent.name of its runs", _A, nonblank
)
AGENT_MAX_STEPS = Variable(
    "AGENT_AUDIT_AGENT_MAX_STEPS", 15, "model calls per run", _A, between(1, 10_000), trim=True
)
AGENT_MAX_STEPS_LIMIT = Variable(
    "AGENT_AUDIT_AGENT_MAX_STEPS_LIMIT",
    100,
    "most steps a request may ask",
    _A,
    between(1, 10_000),
    trim=True,
)
AGENT_MAX_CONCURRENT = Variable(
    "AGENT_AUDIT_AGENT_MAX_CONCURRENT",
    4,
    "runs at once, 429 beyond",
    _A,
    between(1, 1024),
    trim=True,
)
AGENT_MAX_TOOL_RESULT_CHARS = Variable(
    "AGENT_AUDIT_AGENT_MAX_TOOL_RESULT_CHARS",
    16000,
    "tool output for the model",
    _A,
    between(500, 10_000_000),
    trim=True,
)
AGENT_MAX_TOOL_CALLS_PER_TURN = Variable(
    "AGENT_AUDIT_AGENT_MAX_TOOL_CALLS_PER_TURN",
    64,
    "tool calls run per model answer",
    _A,
    between(1, 1000),
    trim=True,
)
AGENT_SYSTEM_PROMPT_FILE = Variable(
    "AGENT_AUDIT_AGENT_SYSTEM_PROMPT_FILE", None, "replaces the system prompt", _A, trim=True
)
AGENT_TOOL_MODULES = Variable(
    "AGENT_AUDIT_AGENT_TOOL_MODULES", (), "modules to import at start", _A, comma_list
)
AGENT_DATA_DIR = Variable(
    "AGENT_AUDIT_AGENT_DATA_DIR", None, "data directory, home of the spool", _A, trim=True
)
AGENT_SPOOL = Variable(
    "AGENT_AUDIT_AGENT_SPOOL", True, "spool spans on disk", _A, switch, trim=True
)

# --- SSH tools (client side) ---
SSH_HOST = Variable("AGENT_AUDIT_SSH_HOST", None, "the server", ("ssh_tools", "agent"), trim=True)
SSH_PORT = Variable("AGENT_AUDIT_SSH_PORT", 22, "its SSH port", _S, between(1, 65535), trim=True)
SSH_USER = Variable("AGENT_AUDIT_SSH_USER", None, "the gateway's user", _S, trim=True)
SSH_KEY = Variable("AGENT_AUDIT_SSH_KEY", None, "the private key file", _S, trim=True)
SSH_KNOWN_HOSTS = Variable(
    "AGENT_AUDIT_SSH_KNOWN_HOSTS", "~/.ssh/known_hosts", "known_hosts file", _S, trim=True
)
SSH_POLICY = Variable(
    "AGENT_AUDIT_SSH_POLICY", None, "policy file for the client-side check", _S, trim=True
)
SSH_TIMEOUT_S = Variable(
    "AGENT_AUDIT_SSH_TIMEOUT_S", 30.0, "time limit per command", _S, seconds(), trim=True
)
SSH_CONNECT_TIMEOUT_S = Variable(
    "AGENT_AUDIT_SSH_CONNECT_TIMEOUT_S",
    10.0,
    "connect and authentication timeout",
    _S,
    seconds(),
    trim=True,
)
SSH_MAX_OUTPUT_BYTES = Variable(
    "AGENT_AUDIT_SSH_MAX_OUTPUT_BYTES",
    262144,
    "cap on a command's output",
    _S,
    between(1024, 64 * 1024**2),
    trim=True,
)
SSH_RESTART_MIN_INTERVAL_S = Variable(
    "AGENT_AUDIT_SSH_RESTART_MIN_INTERVAL_S",
    60.0,
    "minimum time between restarts",
    _S,
    seconds(allow_zero=True),
    trim=True,
)

# Every variable above, by name.
VARIABLES: dict[str, Variable] = {
    v.name: v for v in list(globals().values()) if isinstance(v, Variable)
}
