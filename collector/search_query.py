"""What the search index is asked: the text of ``q``, the filters, and what it answers.

:func:`text_query` turns a ``q`` into the index's :class:`TextQuery` (plain
words, or the trigrams of any other text); :func:`filtered_query` builds the
tantivy query of a text and :class:`SearchFilters`; :class:`SearchHits` is an
answer. :mod:`collector.search_index` runs these queries on the live index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collector.search_documents import EPOCH, annotation_term, trigrams

__all__ = [
    "SearchFilters",
    "SearchHits",
    "TextQuery",
    "index_words",
    "text_query",
    "match_query",
    "filtered_query",
    "time_bounds",
    "without_unmatched_prefix",
    "micros",
    "page_hits",
    "count_hits",
]

_PLAIN = re.compile(r"^[^\W_]+(?:\s+[^\W_]+)*$")
_WORD = re.compile(r"[^\W_]+")
_EPOCH = EPOCH
# Characters with a meaning in tantivy's regular expressions (Rust regex syntax).
_REGEX_META = re.compile(r"([\\.+*?()|\[\]{}^$#&\-~])")


def index_words(text: str) -> list[str] | None:
    """The words the index looks up for ``text``; None when it is not plain words."""
    stripped = text.strip()
    if not stripped or not _PLAIN.match(stripped):
        return None
    return _WORD.findall(stripped.lower())


@dataclass(frozen=True)
class TextQuery:
    """What the index looks for, for one ``q``.

    Plain words: runs whose text holds every word (exact). Otherwise the runs
    whose task or final answer holds every trigram of ``q``: candidates, a
    superset of the substring matches that SQL then checks. Either way, runs
    whose id starts with ``q`` (lowercased, stripped) match too.
    """

    words: list[str] | None
    grams: list[str]
    prefix: str

    @property
    def exact(self) -> bool:
        return self.words is not None


# Run ids are 16 hex digits, or an agent's own id (a UUID is 36 characters).
MAX_ID_PREFIX = 128


def text_query(text: str) -> TextQuery | None:
    """The index's query for ``q``; None when the index cannot answer it (under 3 characters)."""
    words = index_words(text)
    prefix = text.strip().lower()
    if len(prefix) > MAX_ID_PREFIX:
        prefix = ""  # longer than any run id people type; tantivy's regex would refuse it
    if words is not None:
        return TextQuery(words=words, grams=[], prefix=prefix)
    grams = trigrams(text)
    if not grams:
        return None
    return TextQuery(words=None, grams=grams, prefix=prefix)


@dataclass(frozen=True)
class SearchHits:
    """Run ids of one page (newest first), their starts, and how many runs match in all."""

    run_ids: list[str]
    total: int
    starts_us: list[int] = field(default_factory=list)  # 0: no start time

    def started_between(self) -> tuple[datetime, datetime] | None:
        """(earliest, latest) start of these runs; None when one has no start time."""
        if not self.starts_us or 0 in self.starts_us:
            return None
        return (
            _EPOCH + timedelta(microseconds=min(self.starts_us)),
            _EPOCH + timedelta(microseconds=max(self.starts_us)),
        )


@dataclass(frozen=True, kw_only=True)
class SearchFilters:
    """The run-list filters the index can apply itself (the others it cannot)."""

    statuses: Sequence[str] = ()
    source: str | None = None
    agent_name: str | None = None
    model: str | None = None
    tool: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    has_error: bool = False
    annotation: str | None = None  # good / bad (latest verdict), any, or a label
    run_ids: Sequence[str] | None = None  # only these runs


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of a naive UTC time (``started_us``'s unit)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def match_query(tantivy: Any, schema: Any, query: TextQuery | Sequence[str] | None) -> Any:
    """The text part: every word (or trigram) of ``q``, or a run id starting with ``q``."""
    if query is None:
        return tantivy.Query.all_query()
    if not isinstance(query, TextQuery):  # a plain list of words
        query = TextQuery(words=list(query), grams=[], prefix="")
    field, terms = ("text", query.words) if query.words is not None else ("sub", query.grams)
    text = tantivy.Query.boolean_query(
        [(tantivy.Occur.Must, tantivy.Query.term_query(schema, field, t)) for t in terms]
    )
    if not query.prefix:
        return text
    prefix = _id_prefix_query(tantivy, schema, query.prefix)
    return tantivy.Query.boolean_query(
        [(tantivy.Occur.Should, text), (tantivy.Occur.Should, prefix)]
    )


def filtered_query(
    tantivy: Any,
    schema: Any,
    query: TextQuery | Sequence[str] | None,
    filters: SearchFilters,
    lower: int | None,
    upper: int | None,
) -> Any:
    """The whole query: ``query``'s text part and every filter the index applies."""
    term_set = tantivy.Query.term_set_query
    must = [match_query(tantivy, schema, query)]
    for name, values in (
        ("status", filters.statuses),
        ("source", [filters.source] if filters.source else []),
        ("agent_name", [filters.agent_name] if filters.agent_name else []),
        ("model", [filters.model] if filters.model else []),
        ("tool", [filters.tool] if filters.tool else []),
        ("flag", ["error"] if filters.has_error else []),
        ("annotation", [annotation_term(filters.annotation)] if filters.annotation else []),
    ):
        if values:
            must.append(term_set(schema, name, list(values)))
    if filters.run_ids is not None:
        must.append(term_set(schema, "id", list(filters.run_ids)))
    if lower is not None or upper is not None:
        must.append(
            tantivy.Query.range_query(schema, "started_us", tantivy.FieldType.Integer, lower, upper)
        )
    if len(must) == 1:  # a boolean query of one clause counts at half the speed
        return must[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in must])


def _id_prefix_query(tantivy: Any, schema: Any, prefix: str) -> Any:
    return tantivy.Query.regex_query(schema, "id", _REGEX_META.sub(r"\\\1", prefix) + ".*")


def without_unmatched_prefix(
    tantivy: Any, schema: Any, searcher: Any, query: TextQuery | Sequence[str] | None
) -> TextQuery | Sequence[str] | None:
    """``query`` without its run id prefix when no run id starts with it (the usual case).

    The prefix makes the text part one side of a union, which tantivy counts at a
    third of the speed of the text alone (600k matches: ~28 against ~9 ms); the
    answer is the same when the other side matches nothing (looked up in ~0.1 ms).
    """
    if not isinstance(query, TextQuery) or not query.prefix:
        return query
    found = searcher.search(_id_prefix_query(tantivy, schema, query.prefix), 1, count=True)
    if getattr(found, "count", 0):
        return query
    return TextQuery(words=query.words, grams=query.grams, prefix="")


def time_bounds(filters: SearchFilters) -> tuple[int | None, int | None]:
    """``since`` and ``until`` as inclusive microsecond bounds of ``started_us``."""
    lower = micros(filters.since) if filters.since else None
    upper = micros(filters.until) - 1 if filters.until else None
    return lower, upper


# How far back from the newest start (or the cursor) a page is looked for, in minutes.
_WINDOWS_MIN = (15, 120, 960, 7680, 61440, 491520)


def page_hits(
    hits_from: Callable[[int | None, int], list[Any]],
    lower: int | None,
    anchor: int | None,
    wanted: int,
    offset: int,
    total: int,
) -> list[Any]:
    """The ``wanted`` newest hits after ``offset``, from the smallest window that holds them.

    Ordering every hit by start reads the start of each (600k for a common
    word: tens of ms); a window of the last minutes holds the page of such a
    query, and all it leaves out started earlier than all it holds, so its
    newest hits are the newest of all. A window is tried only when the
    smaller one held too few; the last resort is every hit.
    """
    if anchor is not None and total > offset + wanted:
        for minutes in _WINDOWS_MIN:
            low = anchor - minutes * 60_000_000
            if lower is not None and low <= lower:
                break
            hits = hits_from(low, wanted)
            if len(hits) >= wanted:
                return hits
    return hits_from(lower, wanted)


def count_hits(searcher: Any, query: Any) -> int:
    return int(getattr(searcher.search(query, 1, count=True), "count", 0) or 0)
