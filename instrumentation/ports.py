"""Is a TCP port free to listen on, and if not, which process holds it?

``agent-audit up`` and ``agent-audit collector`` check their ports before starting
anything, so a port in use gives one line naming the port and its holder instead of
a half-started stack or gRPC's bind traceback.
The holder is looked up in /proc (Linux): the listening socket's inode in
``/proc/net/tcp{,6}``, then the process with a descriptor on that inode. It is
None when unknowable (another OS, or a process of another user without root).
Standard library only, so the collector and the dashboard can both use it.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PortHolder", "port_holder", "port_in_use"]

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port."""

    pid: int
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def port_in_use(host: str, port: int) -> bool:
    """True when binding ``host:port`` fails because something else has it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the collector and Streamlit bind: SO_REUSEADDR ignores TIME_WAIT leftovers.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _command_line(pid_dir: Path) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    text = " ".join(words)
    return text if len(text) <= 80 else text[:77] + "..."


def port_holder(port: int, *, proc: Path = Path("/proc")) -> PortHolder | None:
    """The process listening on ``port``, when /proc lets us see it."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            descriptors = list((pid_dir / "fd").iterdir())
        except OSError:  # gone, or another user's process
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) in targets:
                    return PortHolder(int(pid_dir.name), _command_line(pid_dir))
            except OSError:
                continue
    return None
