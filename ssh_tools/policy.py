"""The allowlist's policy: a declarative JSON document, validated into a :class:`Policy`.

Standard library only. The format is described in :mod:`ssh_tools.allowlist`;
``ssh_tools/default_policy.json`` is the built-in policy written out, a starting
point for a policy file of your own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssh_tools.errors import PolicyError

__all__ = ["DEFAULT_POLICY", "DEFAULT_POLICY_DATA", "Policy", "Shape", "load_policy"]

DEFAULT_POLICY_DATA: dict[str, Any] = {
    "version": 1,
    "program": "docker",
    "max_command_length": 512,
    "max_arguments": 24,
    "allowed_punctuation": " _.:=+-",
    "shapes": {
        # docker's own rule for names; container ids are lowercase hex, which it covers.
        "container": {"pattern": "[a-zA-Z0-9][a-zA-Z0-9_.-]*", "max_length": 128},
        "tail": {"min": 0, "max": 5000},
        "count": {"min": 1, "max": 100},
        "seconds": {"min": 0, "max": 120},
        # durations (10m, 1h30m), unix timestamps, RFC 3339 dates and times
        "time": {
            "pattern": (
                r"(?:[0-9]{1,6}(?:ns|us|ms|s|m|h)){1,4}"
                r"|[0-9]{1,10}(?:\.[0-9]{1,9})?"
                r"|[0-9]{4}-[0-9]{2}-[0-9]{2}"
                r"(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
                r"(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
            ),
            "max_length": 40,
        },
        "ps_filter": {
            "pattern": r"(?:id|name|status|health|label|ancestor)=[a-zA-Z0-9][a-zA-Z0-9_.:=-]*",
            "max_length": 160,
        },
    },
    "subcommands": {
        "ps": {
            "flags": {
                "--all": {"aliases": ["-a"]},
                "--quiet": {"aliases": ["-q"]},
                "--no-trunc": {},
                "--size": {"aliases": ["-s"]},
                "--last": {"aliases": ["-n"], "value": "count"},
                "--filter": {"value": "ps_filter"},
            },
            "arguments": {"min": 0, "max": 0},
        },
        "logs": {
            "flags": {
                "--tail": {"aliases": ["-n"], "value": "tail"},
                "--since": {"value": "time"},
                "--until": {"value": "time"},
                "--timestamps": {"aliases": ["-t"]},
            },
            "required": ["--tail"],
            "arguments": {"min": 1, "max": 1, "shape": "container"},
        },
        "inspect": {
            "flags": {"--size": {"aliases": ["-s"]}},
            "arguments": {"min": 1, "max": 1, "shape": "container"},
        },
        "stats": {
            "flags": {"--no-stream": {}, "--all": {"aliases": ["-a"]}, "--no-trunc": {}},
            "required": ["--no-stream"],
            "arguments": {"min": 0, "max": 8, "shape": "container"},
        },
        "restart": {
            "flags": {"--time": {"aliases": ["-t"], "value": "seconds"}},
            "arguments": {"min": 1, "max": 1, "shape": "container"},
        },
        "top": {"flags": {}, "arguments": {"min": 1, "max": 1, "shape": "container"}},
        "version": {"flags": {}, "arguments": {"min": 0, "max": 0}},
    },
}


@dataclass(frozen=True)
class Shape:
    """A named value shape: a pattern with a length bound, or an integer range."""

    name: str
    pattern: re.Pattern[str] | None = None
    max_length: int = 256
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: str) -> str | None:
        """None when ``value`` fits, else why not."""
        if len(value) > self.max_length:
            return f"{self.name} is longer than {self.max_length} characters"
        if self.minimum is not None and self.maximum is not None:
            if not (value.isascii() and value.isdigit()) or len(value) > 9:
                return f"{self.name} must be an integer from {self.minimum} to {self.maximum}"
            if not self.minimum <= int(value) <= self.maximum:
                return f"{self.name} must be from {self.minimum} to {self.maximum}, got {value}"
            return None
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return f"{value!r} is not a valid {self.name}"
        return None


@dataclass(frozen=True)
class Flag:
    """An option; ``value_shape`` is None for a switch that takes no value."""

    name: str
    value_shape: Shape | None


@dataclass(frozen=True)
class Subcommand:
    """What one subcommand accepts: its flags, required flags and positional arguments."""

    name: str
    flags: Mapping[str, Flag]  # every spelling (name and aliases) -> the flag
    required: tuple[str, ...]
    min_arguments: int
    max_arguments: int
    argument_shape: Shape | None


@dataclass(frozen=True)
class Policy:
    """A parsed, validated policy; build it with :meth:`from_data` or :func:`load_policy`."""

    program: str
    max_command_length: int
    max_arguments: int
    allowed_characters: frozenset[str]
    subcommands: Mapping[str, Subcommand]
    shapes: Mapping[str, Shape]
    data: Mapping[str, Any]

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, source: str = "policy") -> Policy:
        """Validate ``data`` (the JSON object described in :mod:`ssh_tools.allowlist`)."""
        return _parse_policy(data, source)

    def shape(self, name: str) -> Shape:
        """The named value shape (used to describe tool parameters)."""
        return self.shapes[name]


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (JSON); raise :class:`PolicyError` if it is bad."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror or exc}", source=source) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"not valid JSON: {exc}", source=source) from exc
    return Policy.from_data(data, source=source)


# --- policy parsing ----------------------------------------------------------------

_TOP_KEYS = {
    "version",
    "program",
    "max_command_length",
    "max_arguments",
    "allowed_punctuation",
    "shapes",
    "subcommands",
}
_SAFE_PUNCTUATION = frozenset(" _.:=+-,/@%")  # never quotes, $, ;, |, &, <, >, `, \, {, }


def _parse_policy(data: Mapping[str, Any], source: str) -> Policy:
    def fail(message: str) -> PolicyError:
        return PolicyError(message, source=source)

    if not isinstance(data, Mapping):
        raise fail("the policy must be a JSON object")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    if data.get("version") != 1:
        raise fail("version must be 1")
    program = data.get("program")
    if not isinstance(program, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", program):
        raise fail("program must be a plain command name such as 'docker'")
    max_length = _positive_int(data.get("max_command_length", 512), "max_command_length", fail)
    max_arguments = _positive_int(data.get("max_arguments", 24), "max_arguments", fail)
    punctuation = data.get("allowed_punctuation", " _.:=+-")
    if not isinstance(punctuation, str) or not set(punctuation) <= _SAFE_PUNCTUATION:
        raise fail(f"allowed_punctuation may only hold {''.join(sorted(_SAFE_PUNCTUATION))!r}")
    allowed = frozenset(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + punctuation + " "
    )
    shapes = {
        name: _parse_shape(name, spec, fail)
        for name, spec in _mapping(data, "shapes", fail).items()
    }
    subcommands = {
        name: _parse_subcommand(name, spec, shapes, fail)
        for name, spec in _mapping(data, "subcommands", fail).items()
    }
    if not subcommands:
        raise fail("subcommands is empty: nothing would be allowed")
    return Policy(
        program=program,
        max_command_length=max_length,
        max_arguments=max_arguments,
        allowed_characters=allowed,
        subcommands=subcommands,
        shapes=shapes,
        data=json.loads(json.dumps(data)),
    )


def _mapping(data: Mapping[str, Any], key: str, fail: Any) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise fail(f"{key} must be an object")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any, what: str, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise fail(f"{what} must be a positive integer")
    return value


def _parse_shape(name: str, spec: Any, fail: Any) -> Shape:
    if not isinstance(spec, Mapping) or not set(spec) <= {"pattern", "max_length", "min", "max"}:
        raise fail(f"shape {name!r} must be an object with pattern/max_length or min/max")
    max_length = _positive_int(spec.get("max_length", 256), f"shape {name!r} max_length", fail)
    if "min" in spec or "max" in spec:
        low, high = spec.get("min"), spec.get("max")
        if not (isinstance(low, int) and isinstance(high, int)) or not (
            _is_int(low) and _is_int(high)
        ):
            raise fail(f"shape {name!r} needs integer min and max")
        if not 0 <= low <= high < 10**9:
            raise fail(f"shape {name!r} needs 0 <= min <= max < 10**9")
        return Shape(name=name, max_length=max_length, minimum=low, maximum=high)
    pattern = spec.get("pattern")
    if not isinstance(pattern, str):
        raise fail(f"shape {name!r} needs a pattern or min/max")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise fail(f"shape {name!r} pattern does not compile: {exc}") from exc
    return Shape(name=name, pattern=compiled, max_length=max_length)


def _parse_subcommand(name: str, spec: Any, shapes: Mapping[str, Shape], fail: Any) -> Subcommand:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name):
        raise fail(f"subcommand {name!r} is not a plain word")
    if not isinstance(spec, Mapping) or not set(spec) <= {"flags", "required", "arguments"}:
        raise fail(f"subcommand {name!r} must be an object with flags/required/arguments")
    flags: dict[str, Flag] = {}
    for flag_name, flag_spec in _mapping(spec, "flags", fail).items():
        if not isinstance(flag_spec, Mapping) or not set(flag_spec) <= {"aliases", "value"}:
            raise fail(f"{name} {flag_name}: a flag is an object with aliases/value")
        value = flag_spec.get("value")
        if value is not None and value not in shapes:
            raise fail(f"{name} {flag_name}: unknown shape {value!r}")
        flag = Flag(name=flag_name, value_shape=shapes[value] if value else None)
        spellings = [flag_name, *flag_spec.get("aliases", [])]
        for spelling in spellings:
            if not isinstance(spelling, str) or not re.fullmatch(
                r"--[a-z][a-z0-9-]*|-[a-zA-Z]", spelling
            ):
                raise fail(f"{name}: {spelling!r} is not a flag spelling (--long or -x)")
            if spelling in flags:
                raise fail(f"{name}: {spelling!r} is named twice")
            flags[spelling] = flag
    required = spec.get("required", [])
    if not isinstance(required, list) or any(r not in flags for r in required):
        raise fail(f"{name}: required must list flags the subcommand names")
    arguments = spec.get("arguments", {})
    if not isinstance(arguments, Mapping) or not set(arguments) <= {"min", "max", "shape"}:
        raise fail(f"{name}: arguments is an object with min/max/shape")
    low, high = arguments.get("min", 0), arguments.get("max", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not (
        0 <= low <= high <= 64
    ):
        raise fail(f"{name}: arguments needs 0 <= min <= max <= 64")
    shape_name = arguments.get("shape")
    if high > 0 and shape_name not in shapes:
        raise fail(f"{name}: positional arguments need a known shape")
    return Subcommand(
        name=name,
        flags=flags,
        required=tuple(flags[r].name for r in required),
        min_arguments=low,
        max_arguments=high,
        argument_shape=shapes[shape_name] if shape_name else None,
    )


DEFAULT_POLICY: Policy = Policy.from_data(DEFAULT_POLICY_DATA, source="built-in policy")
