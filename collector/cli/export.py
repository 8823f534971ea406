"""``agent-audit export --format parquet DIR``: a consistent snapshot for offline analysis.

The collector takes the snapshot (one read transaction) and streams it as a
tar of Parquet files; this command writes them into DIR: ``runs.parquet``,
``steps.parquet``, ``spans.parquet``, ``cancel_requests.parquet`` and
``manifest.json``. Read them with DuckDB, pandas or anything that reads
Parquet, e.g. ``duckdb -c "SELECT status, count(*) FROM 'DIR/runs.parquet' GROUP BY 1"``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from collector.cli.common import EXIT_API_ERROR, EXIT_OK, add_api_argument, call_api, error
from collector.cli.progress import Progress, add_progress_argument, receive
from collector.client import AuditClient

__all__ = ["add_arguments", "run"]

MANIFEST_NAME = "manifest.json"  # the first entry of the stream
_CHUNK = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit export``."""
    add_api_argument(parser)
    parser.add_argument("--format", choices=("parquet",), default="parquet", help="file format")
    parser.add_argument("directory", metavar="DIR", help="where to write (created if missing)")
    add_progress_argument(parser)


def _expected_files(manifest: dict[str, Any]) -> set[str]:
    names = {MANIFEST_NAME}
    for info in (manifest.get("tables") or {}).values():
        name = str(info.get("file") or "")
        # Plain file names only: nothing the server says can write outside DIR.
        if not name.endswith(".parquet") or Path(name).name != name or name.startswith("."):
            raise ValueError(f"unexpected file name {name!r} in the manifest")
        names.add(name)
    return names


def _unpack(tar_path: Path, target: Path) -> dict[str, Any]:
    """Write the files the manifest lists into ``target``; nothing else is extracted."""
    written: set[str] = set()
    expected: set[str] = set()
    manifest: dict[str, Any] = {}
    with tarfile.open(tar_path, "r:") as tar:
        for member in tar.getmembers():
            if not written and member.name != MANIFEST_NAME:
                raise ValueError("the export stream does not start with its manifest")
            if written and member.name not in expected:
                raise ValueError(f"unexpected entry {member.name!r} in the export stream")
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                raise ValueError(f"{member.name!r} in the export stream is not a file")
            if member.name == MANIFEST_NAME:
                manifest = json.loads(source.read())
                expected = _expected_files(manifest)
                (target / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
            else:
                partial = target / f".{member.name}.partial"
                with source, partial.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                os.replace(partial, target / member.name)
            written.add(member.name)
    missing = expected - written
    if missing or not written:
        raise ValueError(f"the export stream lacks {', '.join(sorted(missing)) or 'everything'}")
    return manifest


def run(args: argparse.Namespace) -> int:
    """Download the snapshot and write its files into DIR."""
    target = Path(args.directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error(f"cannot create {target}: {exc.strerror or exc}")
        return EXIT_API_ERROR

    progress = Progress("export", forced=args.progress)

    def action(client: AuditClient) -> int:
        handle, name = tempfile.mkstemp(prefix=".agent-audit-export-", suffix=".tar", dir=target)
        tar_path = Path(name)
        try:
            with os.fdopen(handle, "wb") as out, client.stream_export(args.format) as response:
                receive(response, out, progress)
            try:
                manifest = _unpack(tar_path, target)
            except (ValueError, tarfile.TarError) as exc:
                error(f"the export could not be unpacked: {exc}")
                return EXIT_API_ERROR
        finally:
            tar_path.unlink(missing_ok=True)
        print(f"snapshot taken {manifest.get('taken_at')} -> {target}")
        for stem, info in (manifest.get("tables") or {}).items():
            print(f"  {info.get('file', stem + '.parquet'):<26} {info.get('rows', '?'):>10} rows")
        return EXIT_OK

    return call_api(args, action)
