"""The stack description: every replica's environment is one its service accepts."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from pathlib import Path

import pytest

from account_service.settings import AccountServiceSettings
from booking_service.settings import BookingServiceSettings
from search_service.settings import SearchServiceSettings
from services.stack import (
    ACCOUNT,
    BOOKING,
    PROVIDER_SIM,
    SEARCH,
    STACK,
    TOKEN,
    Facts,
    HotelSupplier,
    Jwt,
    Upstream,
    grpc_addresses,
    read_port_file,
)
from token_service.settings import TokenServiceSettings


def full_facts(replicas: int = 3) -> Facts:
    return Facts(
        redis_url="redis://127.0.0.1:6379/0",
        key_prefix="stack-test",
        database_url="postgresql://u:p@127.0.0.1:5432/db",
        upstreams=(
            Upstream("amadeus", "http://127.0.0.1:8081", "client-a", secrets.token_urlsafe(24)),
            Upstream("other", "http://127.0.0.1:8082", "client-b", secrets.token_urlsafe(24)),
        ),
        callers={"search": ("amadeus", "other"), "booking": ("amadeus",)},
        caller_keys={"search": secrets.token_urlsafe(24), "booking": secrets.token_urlsafe(24)},
        page_token_secret=secrets.token_urlsafe(24),
        jwt=Jwt(secrets.token_urlsafe(48), "issuer", "audience"),
        addresses=grpc_addresses(STACK, replicas),
    )


def test_every_replica_environment_loads_in_its_service() -> None:
    facts = full_facts()
    token = TokenServiceSettings.from_env(TOKEN.replica_env(facts, "token-1", grpc_port=50051))
    assert [p.name for p in token.providers] == ["amadeus", "other"]
    assert token.providers[0].token_url == "http://127.0.0.1:8081/v1/security/oauth2/token"

    search = SearchServiceSettings.from_env(
        SEARCH.replica_env(facts, "search-2", grpc_port=50062, metrics_port=9472)
    )
    assert search.server.replica_id == "search-2"
    assert (search.server.grpc_port, search.server.metrics_port) == (50062, 9472)
    assert search.provider is not None and search.provider.name == "amadeus"
    assert search.provider.token_service_addresses == facts.addresses["token"]
    assert search.provider.caller_id == "search"

    booking = BookingServiceSettings.from_env(BOOKING.replica_env(facts, "b", grpc_port=0))
    assert booking.search_addresses == facts.addresses["search"]
    assert booking.tokens is not None and booking.tokens.caller_id == "booking"
    assert booking.provider is not None and booking.provider.base_url == "http://127.0.0.1:8081"
    assert booking.server.metrics_port == -1  # no metrics_port: none


def test_what_a_launcher_leaves_out_is_left_out() -> None:
    facts = Facts(
        database_url="postgresql://u:p@127.0.0.1:5432/db",
        redis_url="redis://127.0.0.1:6379/0",
        key_prefix="p",
        page_token_secret=secrets.token_urlsafe(24),
    )
    env = SEARCH.env(facts)
    assert env["PROVIDER_ENABLED"] == "false"
    assert SearchServiceSettings.from_env(env).provider is None
    booking = BOOKING.env(Facts(database_url="postgresql://u:p@127.0.0.1:5432/db"))
    assert booking == {"DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db"}


def test_the_stand_in_knows_every_upstream_client() -> None:
    facts = full_facts()
    clients = dict(c.split(":", 1) for c in PROVIDER_SIM.env(facts)["SIM_CLIENTS"].split(","))
    assert clients == {u.client_id: u.client_secret for u in facts.upstreams}


def test_make_run_ports_do_not_collide() -> None:
    addresses = grpc_addresses(STACK, 9)
    ports = [int(a.rsplit(":", 1)[1]) for a in (a for v in addresses.values() for a in v)]
    ports += [s.metrics_port + i for s in STACK if s.metrics_port for i in range(9)]
    ports += [s.http_port for s in STACK if s.http_port]
    assert len(ports) == len(set(ports))


def test_facts_never_show_a_secret() -> None:
    facts = full_facts()
    text = repr(facts)
    hidden = [u.client_secret for u in facts.upstreams] + list(facts.caller_keys.values())
    assert facts.jwt is not None and facts.page_token_secret is not None
    hidden += [facts.jwt.secret, facts.page_token_secret]
    assert not [s for s in hidden if s in text]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, None),
        ("", None),
        ('{"grpc": 5', None),  # half written
        ("8081\n", {"http": 8081}),
        (json.dumps({"grpc": 1, "metrics": 2}), {"grpc": 1, "metrics": 2}),
        ('"text"', None),
    ],
)
def test_read_port_file(
    tmp_path: Path, content: str | None, expected: dict[str, int] | None
) -> None:
    path = tmp_path / "x.port"
    if content is not None:
        path.write_text(content)
    assert read_port_file(path) == expected


def test_account_replicas_and_booking_trusting_them() -> None:
    facts = replace(full_facts(), jwks_url="http://127.0.0.1:9491/.well-known/jwks.json")
    account = AccountServiceSettings.from_env(
        ACCOUNT.replica_env(facts, "account-2", grpc_port=50082, metrics_port=9492)
    )
    assert (account.server.grpc_port, account.server.metrics_port) == (50082, 9492)
    assert (account.tokens.issuer, account.tokens.audience) == ("issuer", "audience")
    assert not account.dev_outbox_rpc  # only where a launcher asks (make run)
    # The same keys for every replica of one Facts; new ones for another.
    other = ACCOUNT.replica_env(facts, "account-3", grpc_port=0)
    assert other["ACCOUNT_SIGNING_KEYS"] == account.signing_keys
    assert full_facts().account_signing_keys != facts.account_signing_keys
    # Booking verifies the account service's tokens (same issuer and audience) and
    # checks revoked sessions.
    booking = BookingServiceSettings.from_env(BOOKING.replica_env(facts, "b", grpc_port=0))
    assert booking.jwt.jwks_url == facts.jwks_url and booking.jwt.session_revocation
    assert (booking.jwt.issuer, booking.jwt.audience) == ("issuer", "audience")
    # Without an account service booking trusts its HS256 secret only.
    plain = BookingServiceSettings.from_env(BOOKING.replica_env(full_facts(), "b", grpc_port=0))
    assert plain.jwt.jwks_url is None and not plain.jwt.session_revocation


def test_a_hotel_supplier_reaches_the_stand_in_the_token_service_and_search() -> None:
    hotel = HotelSupplier(
        "hotel", "http://127.0.0.1:8081", "hotel-client", secrets.token_urlsafe(24), "ops",
        secrets.token_urlsafe(24),
    )  # fmt: skip
    facts = replace(full_facts(), hotel_supplier=hotel)
    sim = PROVIDER_SIM.env(facts)
    assert sim["SIM_HOTEL_CLIENTS"] == f"hotel-client:{hotel.client_secret}"
    assert sim["SIM_HOTEL_USERS"] == f"ops:{hotel.password}"
    token = TokenServiceSettings.from_env(TOKEN.replica_env(facts, "token-1", grpc_port=0))
    login = next(p for p in token.providers if p.name == "hotel")
    assert login.grant == "password" and login.username == "ops"
    assert login.token_url == "http://127.0.0.1:8081/hotel/v1/auth/token"
    search = SearchServiceSettings.from_env(SEARCH.replica_env(facts, "s", grpc_port=0))
    assert search.hotel_provider is not None
    assert (search.hotel_provider.name, search.hotel_provider.kind) == ("hotel", "amadeus_hotels")
    assert search.hotel_provider.base_url == "http://127.0.0.1:8081"
    assert hotel.client_secret not in repr(facts) and hotel.password not in repr(facts)
    assert SearchServiceSettings.from_env(SEARCH.env(full_facts())).hotel_provider is None
