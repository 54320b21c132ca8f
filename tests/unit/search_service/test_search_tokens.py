"""Signed page tokens and offer ids: round trips, tampering, another key or purpose,
and where the next page starts when the result list changed in between."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_service.offers import OfferIds, OfferRef
from search_service.pagination import (
    Cursor,
    InvalidPageToken,
    PageTokens,
    clamp_page_size,
    page_start,
)
from search_service.pricing import Party
from search_service.query import Cabin
from search_service.signing import MalformedToken, Signer
from tests.utils.respell import respell

SECRET = "unit-test-secret-0123456789"


def test_signer_round_trip_and_tamper() -> None:
    signer = Signer(SECRET, "x")
    token = signer.sign(b"payload")
    assert signer.verify(token) == b"payload"
    body, mac = token.split(".")
    # Another tag (its last character carries 2 bits: 'A', 'Q', 'g' and 'w' are canonical).
    assert signer.verify(body + "." + mac[:-1] + ("A" if mac[-1] != "A" else "Q")) is None
    assert signer.verify(("A" if body[0] != "A" else "B") + body[1:] + "." + mac) is None
    assert Signer(SECRET, "y").verify(token) is None  # another purpose
    assert Signer(SECRET + "!", "x").verify(token) is None  # another key
    for junk in (
        "",
        ".",
        "a.b.c",
        "!!!.???",
        "x" * 5000,
        "x" * 5000 + "." + mac,
        body + "=." + mac,
        body + "." + respell(mac),
        respell(body) + "." + mac,
    ):
        with pytest.raises(MalformedToken):
            signer.verify(junk)


@given(
    digest=st.text("0123456789abcdef", min_size=64, max_size=64),
    offset=st.integers(0, 10_000),
    key=st.tuples(
        st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**40), st.text(max_size=40)
    ),
)
def test_page_token_round_trip(digest: str, offset: int, key: tuple[int, int, int, str]) -> None:
    tokens = PageTokens(SECRET)
    cursor = tokens.decode(tokens.encode(Cursor(digest, offset, key)))
    assert cursor.offset == offset and cursor.last_key == key
    tokens.check_query(cursor, digest)
    with pytest.raises(InvalidPageToken):
        tokens.check_query(cursor, "f" * 64 if digest[0] != "f" else "e" * 64)


def test_page_token_from_another_secret() -> None:
    token = PageTokens("another-secret-abcdefgh").encode(Cursor("a" * 64, 1, (1, 2, 3, "x")))
    with pytest.raises(InvalidPageToken):
        PageTokens(SECRET).decode(token)


def test_page_start() -> None:
    items = [(i, 0, 0, str(i)) for i in range(0, 100, 10)]

    def key(item: tuple[int, int, int, str]) -> tuple[int, int, int, str]:
        return item

    assert page_start(items, None, key) == 0
    # Same list: the offset is used.
    assert page_start(items, Cursor("d", 3, items[2]), key) == 3
    # An item before the cursor disappeared: continue after the last key returned.
    changed = items[:1] + items[2:]
    assert page_start(changed, Cursor("d", 3, items[2]), key) == 2
    # A new item sorted before the cursor: not returned again, none skipped.
    grown = sorted([*items, (5, 0, 0, "5")])
    assert grown[page_start(grown, Cursor("d", 3, items[2]), key)] == items[3]
    # The last item returned is gone and the list is shorter than the offset.
    assert page_start(items[:2], Cursor("d", 5, items[4]), key) == 2


def test_clamp_page_size() -> None:
    assert clamp_page_size(0, 20, 100) == 20
    assert clamp_page_size(7, 20, 100) == 7
    assert clamp_page_size(1000, 20, 100) == 100


def test_offer_id_round_trip() -> None:
    ids = OfferIds(SECRET)
    ref = OfferRef(
        "I",
        Cabin.PREMIUM_ECONOMY,
        Party(2, 1, 1),
        123456,
        "USD",
        fares=(((11, 1), (12, 3)), ((13, 2),)),
        guaranteed_until=1_900_000_000,
    )
    assert ids.decode(ids.encode(ref)) == ref
    provider = OfferRef(
        "P", Cabin.BUSINESS, Party(1, 0, 0), 99, "EUR", provider="amadeus", provider_ref="abc123"
    )
    assert ids.decode(ids.encode(provider)) == provider


def test_offer_id_tampered_or_foreign() -> None:
    ids = OfferIds(SECRET)
    token = ids.encode(OfferRef("I", Cabin.ECONOMY, Party(), 100, "USD", fares=(((1, 1),),)))
    body, mac = token.split(".")
    assert ids.decode(body[:-2] + "xx." + mac) is None
    assert OfferIds("other-secret-12345678").decode(token) is None
    # A page token is never an offer id (keys differ by purpose).
    page = PageTokens(SECRET).encode(Cursor("a" * 64, 1, (1, 2, 3, "x")))
    assert ids.decode(page) is None
    # Well signed but not an offer id payload.
    assert ids.decode(Signer(SECRET, "offer-id").sign(b"1|Z|Y")) is None
