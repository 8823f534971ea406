"""What the gateway enforces on the server whatever the client did.

Standard library only (the gateway runs on a bare server):

- :func:`clean_environment`: the command runs with an environment built from
  nothing, so ``DOCKER_HOST``, ``DOCKER_CONFIG``, ``LD_PRELOAD`` and whatever
  else reached the gateway (sshd's ``AcceptEnv``, a login profile) cannot point
  docker elsewhere or inject code.
- :class:`EnvMask`: ``docker inspect`` output leaves the server with every
  environment value of the inspected objects masked, in the JSON document and
  in any ``--format`` output, the client's own masking being only a second
  wall.
- :class:`RestartLimiter`: restarts of one container are at least an interval
  apart, counted in a state file shared by every connection (``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["SAFE_PATH", "clean_environment", "EnvMask", "RestartLimiter", "MASK"]

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MASK = "***"
# Values shorter than this are masked inside the Env list only: masking "80" or
# "true" everywhere would garble the output without protecting anything.
_MIN_LITERAL = 4


def clean_environment(passed: Iterable[str], source: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment for the command, plus the variables the admin passes by name."""
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    home = _home()
    if home:
        env["HOME"] = home
    for name in passed:
        if name in source:
            env[name] = source[name]
    return env


def _home() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        return None


_ENV_LIST = re.compile(r'"Env"\s*:\s*\[(?P<body>[^\]]*)\]?')
_JSON_ITEM = re.compile(r'"(?P<key>[^"=\\]*)=(?:[^"\\]|\\.)*("|$)')


class EnvMask:
    """Masks the given ``KEY=value`` entries wherever they appear in output."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._entries = sorted({e for e in entries if "=" in e}, key=len, reverse=True)
        values = {e.split("=", 1)[1] for e in self._entries}
        literals: set[str] = set()
        for value in values:
            if len(value) >= _MIN_LITERAL:
                literals.add(value)
                literals.add(json.dumps(value)[1:-1])  # as {{json}} writes it
        self._values = (
            re.compile(
                "|".join(re.escape(v) for v in sorted(literals, key=len, reverse=True)), re.I
            )
            if literals
            else None
        )

    @classmethod
    def from_inspect_json(cls, text: str) -> EnvMask:
        """The entries of a ``docker inspect --format '{{json .Config.Env}}'`` answer (lines)."""
        entries: list[str] = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, list):
                    entries.extend(str(v) for v in value)
        return cls(entries)

    def apply(self, text: str) -> str:
        """``text`` with every Env list item and every known value masked."""
        text = _ENV_LIST.sub(_mask_env_list, text)
        for entry in self._entries:
            key = entry.split("=", 1)[0]
            text = text.replace(entry, f"{key}={MASK}")
        if self._values is not None:
            text = self._values.sub(MASK, text)
        return text


def _mask_env_list(match: re.Match[str]) -> str:
    body = _JSON_ITEM.sub(
        lambda m: f'"{m.group("key")}={MASK}' + (m.group(2) or ""), match.group("body")
    )
    closed = match.group(0).endswith("]")
    return f'"Env": [{body}' + ("]" if closed else "")


class RestartLimiter:
    """Restarts of one container at least ``min_interval_s`` apart, across connections."""

    def __init__(self, state_file: Path, min_interval_s: float) -> None:
        self.state_file = state_file
        self.min_interval_s = min_interval_s

    def admit(self, containers: Iterable[str], now: float | None = None) -> str | None:
        """Record the restart and return None, or return why it is refused."""
        if self.min_interval_s <= 0:
            return None
        self.state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.state_file, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one gateway at a time reads and writes
            # The time is read under the lock: read before it, a gateway that waited
            # for the lock would hold an older time than the restart recorded meanwhile.
            moment = time.time() if now is None else now
            try:
                state = json.loads(handle.read() or "{}")
            except ValueError:
                state = {}  # a damaged file: start again rather than refuse forever
            if not isinstance(state, dict):
                state = {}
            for container in containers:
                last = state.get(container)
                # A restart recorded "in the future" (the clock went back) is refused too.
                if isinstance(last, int | float) and moment - last < self.min_interval_s:
                    wait_s = self.min_interval_s - (moment - last)
                    return (
                        f"{container} was restarted {moment - last:.0f} s ago; restarts of one "
                        f"container are at least {self.min_interval_s:g} s apart (try again in "
                        f"{wait_s:.0f} s)"
                    )
            # Counted when admitted, so a restart that failed or timed out still counts.
            for container in containers:
                state[container] = moment
            # Forget entries older than the interval: the file stays small.
            state = {k: v for k, v in state.items() if moment - float(v) < self.min_interval_s}
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(state, sort_keys=True))
            handle.flush()
            os.fsync(handle.fileno())
        return None
