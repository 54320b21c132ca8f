"""CallerAuth: per-caller keys from metadata, and provider allow-lists."""

from __future__ import annotations

import pytest

from services.errors import DomainError, PermissionDeniedError, UnauthenticatedError
from token_service.auth import CALLER_HEADER, CALLER_KEY_HEADER, CallerAuth
from token_service.settings import CallerConfig

SEARCH_KEY = "search-key-for-tests-3f9a"
BOOKING_KEY = "booking-key-for-tests-a1c7"
METHOD = "/skyroute.token.v1.TokenService/GetToken"


@pytest.fixture
def auth() -> CallerAuth:
    return CallerAuth(
        [
            CallerConfig("search", SEARCH_KEY, frozenset({"amadeus", "other"})),
            CallerConfig("booking", BOOKING_KEY, frozenset({"amadeus"})),
        ]
    )


def test_known_caller_with_its_key(auth: CallerAuth) -> None:
    assert auth(METHOD, {CALLER_HEADER: "search", CALLER_KEY_HEADER: SEARCH_KEY}) == "search"


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {CALLER_HEADER: "search"},
        {CALLER_KEY_HEADER: SEARCH_KEY},
        {CALLER_HEADER: "", CALLER_KEY_HEADER: SEARCH_KEY},
    ],
)
def test_missing_credentials(auth: CallerAuth, metadata: dict[str, str]) -> None:
    with pytest.raises(UnauthenticatedError) as err:
        auth(METHOD, metadata)
    assert err.value.reason == "CALLER_CREDENTIALS_MISSING"


@pytest.mark.parametrize(
    "metadata",
    [
        {CALLER_HEADER: "search", CALLER_KEY_HEADER: "wrong-key"},
        {CALLER_HEADER: "search", CALLER_KEY_HEADER: BOOKING_KEY},  # another caller's key
        {CALLER_HEADER: "intruder", CALLER_KEY_HEADER: SEARCH_KEY},  # unknown caller
        {CALLER_HEADER: "search", CALLER_KEY_HEADER: SEARCH_KEY[:-1]},
    ],
)
def test_invalid_credentials(auth: CallerAuth, metadata: dict[str, str]) -> None:
    with pytest.raises(UnauthenticatedError) as err:
        auth(METHOD, metadata)
    assert err.value.reason == "CALLER_CREDENTIALS_INVALID"
    assert SEARCH_KEY not in err.value.message and BOOKING_KEY not in err.value.message


def test_authorize_allows_listed_providers(auth: CallerAuth) -> None:
    auth.authorize("search", "amadeus")
    auth.authorize("search", "other")
    auth.authorize("booking", "amadeus")


@pytest.mark.parametrize(
    ("caller", "provider"),
    [("booking", "other"), ("search", "sabre"), ("nobody", "amadeus"), (None, "amadeus")],
)
def test_authorize_denies_the_rest(auth: CallerAuth, caller: str | None, provider: str) -> None:
    with pytest.raises(PermissionDeniedError) as err:
        auth.authorize(caller, provider)
    assert err.value.reason == "PROVIDER_NOT_ALLOWED"
    assert err.value.metadata == {"provider": provider}


def test_a_huge_provider_name_is_not_echoed_back(auth: CallerAuth) -> None:
    with pytest.raises(DomainError) as err:
        auth.authorize("search", "p" * 1_000_000)
    assert len(err.value.message) < 200 and "p" * 64 + "…" in err.value.message
    assert all(len(v) <= 65 for v in err.value.metadata.values())
