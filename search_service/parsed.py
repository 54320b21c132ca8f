"""Cached results parsed once per replica, with the pages already answered from them.

A cache hit returns the bytes Redis holds for a query; parsing them and building and
serializing a page again on every hit is most of a hit's work. While Redis returns the
same bytes, the parsed result is the same, and so is each page (its next page token
included), so both are kept: flight and hotel searches share this.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Generic, TypeVar

from services.preserialized import Serialized

T = TypeVar("T")
PAGES_PER_RESULT = 16


class ParsedResult(Generic[T]):
    """A cached result as Redis returned it (``data``), parsed (``result``), and the
    pages answered from it, serialized, by (start, end)."""

    __slots__ = ("data", "pages", "result")

    def __init__(self, data: bytes, result: T) -> None:
        self.data = data
        self.result = result
        self.pages: dict[tuple[int, int], Serialized] = {}

    def keep_page(self, start: int, end: int, page: Serialized) -> None:
        if len(self.pages) >= PAGES_PER_RESULT:
            self.pages.clear()
        self.pages[(start, end)] = page


class ParsedResults(Generic[T]):
    """The last ``entries`` queries' results, by digest; one whose bytes in Redis
    changed (recomputed, another replica's result) is parsed again."""

    def __init__(self, parse: Callable[[bytes], T], entries: int) -> None:
        self._parse = parse
        self._entries = entries
        self._known: collections.OrderedDict[str, ParsedResult[T]] = collections.OrderedDict()

    def get(self, digest: str, data: bytes) -> ParsedResult[T]:
        known = self._known.get(digest)
        if known is not None and known.data == data:
            self._known.move_to_end(digest)
            return known
        parsed = ParsedResult(data, self._parse(data))
        self._known[digest] = parsed
        if len(self._known) > self._entries:
            self._known.popitem(last=False)
        return parsed
