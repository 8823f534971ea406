"""Root of the collector's exceptions.

::

    CollectorError
     ├── SettingsError        a bad AGENT_AUDIT_* value, named (settings.py); also a ValueError
     ├── SchemaTooNew         the file was written by a newer agent-audit (schema.py)
     ├── InvalidRequest       an OTLP request that cannot be decoded (decode.py); also a ValueError
     ├── BodyTooLarge         an OTLP/HTTP body beyond the limit (http_app.py)
     ├── LostCommits          acknowledged spans missing after a crash (commit_mark.py)
     ├── StoreError           the DuckDB store (store.py, store_errors.py)
     │    ├── StoreOpenError, StoreUnavailable, StoreRejected
     ├── JournalError         the request journal cannot be written (journal.py); also an OSError
     ├── QueryError           a read through the API (queries.py)
     │    ├── BadRequest, RunNotFound, RunNotRunning
     ├── LakeError            the shared lake cannot be reached or written (lake/)
     │    └── ShipperError     shipping cannot go on (lake/shipper.py)
     │         └── WrongLocalFile   the lake's watermark is another file's
     ├── SqlRefused           ad-hoc SQL that is not a plain read (sql_guard.py); also a ValueError
     └── SqlError             ad-hoc SQL that failed to run (query_sql.py)
          ├── SqlTimeout, SqlFailed

Each keeps the built-in base it had (ValueError, RuntimeError), so callers that
catch those still do.
"""

from __future__ import annotations

__all__ = ["CollectorError"]


class CollectorError(Exception):
    """Root of every exception the collector raises on purpose."""
