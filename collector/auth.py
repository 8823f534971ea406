"""Bearer-token check shared by the HTTP and gRPC receivers (instrumentation.security)."""

from __future__ import annotations

from instrumentation.security import token_matches

__all__ = ["token_matches"]
