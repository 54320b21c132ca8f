"""AIP-158 pagination over a sorted result list with opaque, signed page tokens.

A token carries the digest of the query it belongs to, the offset of the next item
and the sort key of the last item returned. While the cached result list is the same,
the next page starts at the offset. If the list was recomputed in between (the cache
expired, a price changed), the next page starts after the last key instead, so no
item whose position did not change is returned twice or skipped.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from search_service.signing import MalformedToken, Signer

T = TypeVar("T")
SortKey = tuple[int, int, int, str]
DIGEST_CHARS = 32


class InvalidPageToken(ValueError):
    """The page token was not issued by us, or not for this query."""


@dataclass(frozen=True, slots=True)
class Cursor:
    query_digest: str
    offset: int
    last_key: SortKey


class PageTokens:
    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, "page-token")

    def encode(self, cursor: Cursor) -> str:
        payload = json.dumps(
            [1, cursor.query_digest[:DIGEST_CHARS], cursor.offset, list(cursor.last_key)],
            separators=(",", ":"),
        )
        return self._signer.sign(payload.encode())

    def decode(self, token: str) -> Cursor:
        """Raises InvalidPageToken for a token we did not issue."""
        try:
            payload = self._signer.verify(token)
        except MalformedToken:
            payload = None
        if payload is None:
            raise InvalidPageToken("is not a valid page token")
        try:
            version, digest, offset, key = json.loads(payload)
            k0, k1, k2, k3 = key
            if version != 1 or not isinstance(offset, int) or offset < 0:
                raise ValueError("bad cursor")
            last_key = (int(k0), int(k1), int(k2), str(k3))
        except (ValueError, TypeError):
            raise InvalidPageToken("is not a valid page token") from None
        return Cursor(str(digest), offset, last_key)

    def check_query(self, cursor: Cursor, query_digest: str) -> None:
        if cursor.query_digest != query_digest[:DIGEST_CHARS]:
            raise InvalidPageToken("belongs to a different search; repeat the same query")


def page_start(items: Sequence[T], cursor: Cursor | None, key: Callable[[T], SortKey]) -> int:
    """Index of the first item of the page that ``cursor`` asks for."""
    if cursor is None:
        return 0
    offset = cursor.offset
    if 0 < offset <= len(items) and key(items[offset - 1]) == cursor.last_key:
        return offset  # the same list the previous page came from
    # The list changed: continue strictly after the last key returned.
    return bisect.bisect_right([key(item) for item in items], cursor.last_key)


def clamp_page_size(requested: int, default: int, maximum: int) -> int:
    """0 means the default, more than the maximum is the maximum (negative is rejected
    during validation)."""
    if requested <= 0:
        return default
    return min(requested, maximum)
