"""POST /sql as a client should: a 503 saying the worker's copy is still being built or
refreshed is retried after its Retry-After, until a deadline.

The collector answers that 503 once a query has waited ``AGENT_AUDIT_SQL_COPY_WAIT_S``
(5 s) for the first copy (collector/sql_sandbox.py); on a busy machine starting the worker
alone can take longer. Every other answer, a 503 for a lost worker included, is returned
as it came.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench.polling import poll_until

__all__ = ["post_sql", "copy_in_progress"]

COPY_DEADLINE_S = 180.0


def copy_in_progress(response: httpx.Response) -> bool:
    """The collector's answer that the /sql copy is not ready yet (CopyInProgress)."""
    if response.status_code != 503 or "Retry-After" not in response.headers:
        return False
    detail = str(response.json().get("detail", ""))
    return detail.startswith(("the /sql copy of the tables is being built", "refreshing: "))


def post_sql(
    api_url: str,
    query: str,
    *,
    timeout_s: float = 60.0,
    copy_deadline_s: float = COPY_DEADLINE_S,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """``POST {api_url}/sql`` with ``{"sql": query, **body}``; the first answer that is not
    "copy in progress", or that one when the copy is still not ready after ``copy_deadline_s``."""
    answers: list[httpx.Response] = []

    def answered() -> bool:
        answers.append(
            httpx.post(
                api_url + "/sql", json={"sql": query, **body}, headers=headers, timeout=timeout_s
            )
        )
        return not copy_in_progress(answers[-1])

    # Retry-After is a guess of the copy's time left; a small copy is ready sooner.
    poll_until(answered, timeout_s=copy_deadline_s, interval_s=0.5)
    return answers[-1]
