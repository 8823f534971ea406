"""What the gateway and the client agree on: exit codes and marker lines.

Standard library only (the gateway imports it on the server).
"""

from __future__ import annotations

# Exit codes of the gateway besides the command's own. 124-127 follow coreutils'
# timeout(1) and POSIX shells, so the meaning is familiar in any log.
EXIT_TIMEOUT = 124  # the time limit passed; the command's process group was killed
EXIT_GATEWAY_ERROR = 125  # the gateway could not start (bad policy file, bad option)
EXIT_REFUSED = 126  # the allowlist refused the command; nothing ran
EXIT_NOT_FOUND = 127  # the docker executable was not found

# First words of the single stderr line the gateway writes when it refuses.
REFUSED_PREFIX = "agent-audit gateway: refused: "
TIMEOUT_PREFIX = "agent-audit gateway: time limit reached: "

# Appended on its own line when output was cut at the cap.
CUT_MARKER_PREFIX = "[agent-audit: output cut"


def cut_marker(kept_bytes: int, total_bytes: int | None = None) -> str:
    """The marker line put after output cut at ``kept_bytes`` (``total_bytes`` if known)."""
    if total_bytes is None:
        return f"\n{CUT_MARKER_PREFIX} at {kept_bytes} bytes]\n"
    return f"\n{CUT_MARKER_PREFIX} at {kept_bytes} of {total_bytes} bytes]\n"
