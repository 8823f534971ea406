"""The search index's directory (``<db>.search/``): its layout marker, the follower's
watermarks, and the tantivy index inside.

The directory may be a mount point, so emptying it removes what it holds, never
the directory itself. A file (or a dangling link) at its path is replaced by the
directory; a directory holding an index of another layout is emptied.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from collector.search_changes import NO_MARK, Mark
from collector.search_documents import FORMAT, build_schema, register_tokenizers

__all__ = ["ANNOTATIONS_MARK", "RUNS_MARK", "IndexDirectory", "OpenedIndex"]

RUNS_MARK = "watermark"  # (updated_at, id) of the last run indexed
ANNOTATIONS_MARK = "annotation_watermark"  # (created_at, id) of the last annotation seen


@dataclass(frozen=True)
class OpenedIndex:
    """The tantivy module, the index's schema and the index, loaded together."""

    tantivy: Any
    schema: Any
    index: Any


class IndexDirectory:
    """Files of the index directory at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def prepare(self) -> None:
        """Make the directory hold an index of this layout (emptied when of another, or
        when something else stands at its path)."""
        marker = self.path / "format"
        if not self.path.is_dir() and (self.path.exists() or self.path.is_symlink()):
            self.path.unlink()  # a file, or a link to nothing (a link to a folder stays)
        elif self.path.exists() and (not marker.exists() or marker.read_text().strip() != FORMAT):
            self.empty()
        self.path.mkdir(parents=True, exist_ok=True)
        marker.write_text(FORMAT)

    def load_mark(self, name: str) -> Mark:
        """The watermark ``name`` (RUNS_MARK, ANNOTATIONS_MARK): where the next pass starts;
        NO_MARK when none was saved or it cannot be read."""
        try:
            moment, row_id = (self.path / name).read_text().strip().split(" ", 1)
            return datetime.fromisoformat(moment), row_id
        except (OSError, ValueError):
            return NO_MARK

    def save_mark(self, name: str, mark: Mark) -> None:
        """Replace the watermark ``name`` at once (written after the index commit: a
        crash in between re-indexes a batch, harmlessly)."""
        temporary = self.path / f"{name}.tmp"
        temporary.write_text(f"{mark[0].isoformat()} {mark[1]}")
        temporary.replace(self.path / name)

    def open(self) -> OpenedIndex:
        """Load tantivy and open the index on disk (created when empty)."""
        import tantivy

        schema = build_schema(tantivy)
        index = tantivy.Index(schema, path=str(self.path))
        register_tokenizers(tantivy, index)
        return OpenedIndex(tantivy, schema, index)

    def read_afresh(self) -> None:
        """Open the index on disk anew and read its document count (a damage check)."""
        import tantivy

        index = tantivy.Index(build_schema(tantivy), path=str(self.path))
        index.searcher().num_docs  # noqa: B018 - reading it is the check

    def empty(self) -> None:
        """Remove what the directory holds, not the directory (it may be a mount point)."""
        for path in self.path.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
