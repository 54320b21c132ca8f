"""Strict unpadded base64url: one spelling per value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import base64url
from tests.utils.respell import respell


@given(st.binary(max_size=64))
def test_round_trip_and_every_other_spelling_is_refused(data: bytes) -> None:
    text = base64url.encode(data)
    assert "=" not in text
    assert base64url.decode(text) == data
    with pytest.raises(ValueError):
        base64url.decode(respell(text))


@pytest.mark.parametrize(
    "text", ["QR", "QUJ", "QQ==", "QUJD=", "A", "QU JD", "QU!JD", "QUJD\n", "QU+D", "QU/D"]
)
def test_malformed_or_non_canonical(text: str) -> None:
    with pytest.raises(ValueError):
        base64url.decode(text)
