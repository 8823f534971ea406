"""REST query API: runs, steps, stats, cancel, read-only SQL."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
