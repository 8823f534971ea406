"""Bearer-token check shared by the HTTP and gRPC receivers."""

from __future__ import annotations

import hmac

__all__ = ["token_matches"]


def token_matches(expected: str | None, authorization: str | None) -> bool:
    """True when no token is configured or ``authorization`` is ``Bearer <token>``.

    Compared in constant time so the answer's timing does not leak the token.
    """
    if not expected:
        return True
    if not authorization:
        return False
    scheme, _, supplied = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(supplied.strip().encode(), expected.encode())
