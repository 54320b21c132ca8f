"""Two configured providers: two stand-in processes (different inventory seeds) behind
one token-service replica, named ``amadeus`` and ``other``. Search asks both at once
and merges their offers, each tagged with its provider; one failing does not fail
the search. Booking sends each offer's order (and its cancel) to its own provider.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry

from booking_service.pricing.checker import ProviderOffer
from booking_service.pricing.passengers import Party
from search_service.airports import AirportDirectory
from search_service.pricing import Party as SearchParty
from search_service.providers import (
    ProviderMetrics,
    ProviderSearch,
    SearchProviders,
    adapter_config,
)
from search_service.query import Cabin, SearchQuery
from search_service.settings import SearchServiceSettings
from services.clients.token_client import TokenClient
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.providers.registry import create_provider
from tests.integration.booking_service.conftest import Upstream
from tests.integration.booking_service.test_booking_provider_orders import (
    SimOffers,
    fetch_offer,
    priced_offer,
)
from tests.utils.booking_cluster import create_request, sim_orders
from tests.utils.redis_server import free_port
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

DAY = datetime.now(UTC).date() + timedelta(days=3)
AIRPORTS = AirportDirectory([("LHR", "Europe/London"), ("JFK", "America/New_York")])


@dataclasses.dataclass
class TwoProviders:
    first: Upstream  # "amadeus"
    second: Upstream  # "other"

    @property
    def tokens(self) -> TokenCluster:
        return self.first.tokens

    def env(self, caller: str, **extra: str) -> dict[str, str]:
        """Both providers by list; the token client of ``caller`` (allowed both)."""
        return {
            "TOKEN_SERVICE_ADDRESSES": ",".join(self.tokens.addresses),
            "TOKEN_CALLER_ID": caller,
            "TOKEN_CALLER_KEY": self.tokens.keys[caller],
            "PROVIDER_AMADEUS_BASE_URL": self.first.sim.base_url,
            "PROVIDER_OTHER_BASE_URL": self.second.sim.base_url,
            "PROVIDER_TIMEOUT_SECONDS": "5",
            **extra,
        }


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[TwoProviders]:
    clients = new_clients()  # both stand-ins know both clients
    first = Sim(tmp_path_factory.mktemp("sim-amadeus"), clients)
    second = Sim(tmp_path_factory.mktemp("sim-other"), clients)
    second.process.env["SIM_INVENTORY_SEED"] = "271828"
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    tokens = None
    try:
        first.start()
        second.start()
        tokens = TokenCluster(
            tmp_path_factory.mktemp("tokens"),
            first,
            redis_url,
            prefix,
            1,
            env={"PROVIDER_OTHER_TOKEN_URL": second.token_url},
        ).start()
        yield TwoProviders(Upstream(first, tokens), Upstream(second, tokens))
        tokens.assert_no_secrets_in_logs()
    finally:
        if tokens is not None:
            tokens.stop()
        first.stop()
        second.stop()
        client = redis_lib.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
async def providers_of(two: TwoProviders) -> AsyncIterator[Callable[..., SearchProviders]]:
    """Search's providers as SearchApp builds them, from the environment."""
    opened: list[tuple[aiohttp.ClientSession, TokenClient]] = []

    def build(**extra: str) -> SearchProviders:
        env = {
            "DATABASE_URL": "postgresql://u:p@127.0.0.1/unused",
            "PAGE_TOKEN_SECRET": "two-providers-test-secret-0123456789",
            "SEARCH_PROVIDERS": "amadeus,other",
            **two.env("search", **extra),
        }
        settings = SearchServiceSettings.from_env(env)
        session = aiohttp.ClientSession()
        first = settings.providers[0]
        tokens = TokenClient(first.token_service_addresses, first.caller_id, first.caller_key)
        opened.append((session, tokens))
        metrics = ProviderMetrics(CollectorRegistry())
        return SearchProviders(
            [
                ProviderSearch(
                    create_provider(p.kind, adapter_config(p), session, tokens, metrics),
                    AIRPORTS,
                    p,
                )
                for p in settings.providers
            ]
        )

    yield build
    for session, tokens in opened:
        await tokens.close()
        await session.close()


def query() -> SearchQuery:
    return SearchQuery(
        origin="LHR",
        destination="JFK",
        departure_date=DAY,
        return_date=None,
        party=SearchParty(),
        cabin=Cabin.ECONOMY,
    )


async def test_search_asks_both_providers_and_merges(providers_of) -> None:
    providers = providers_of()
    assert providers.names == ("amadeus", "other")
    result = await providers.search(query())
    assert result.failure == ""
    by_provider: dict[str, set[str]] = {}
    for option in result.options:
        by_provider.setdefault(option.provider, set()).add(option.provider_ref)
    assert set(by_provider) == {"amadeus", "other"}
    # Different stand-ins: different offers, each kept under its own provider.
    assert by_provider["amadeus"] != by_provider["other"]
    # An offer is priced at the provider it came from.
    other = next(o for o in result.options if o.provider == "other")
    quote = await providers.price("other", dict(other.extra["raw"]))
    assert quote.available and quote.currency == other.currency


async def test_one_provider_failing_keeps_the_others_offers(providers_of) -> None:
    providers = providers_of(PROVIDER_OTHER_BASE_URL=f"http://127.0.0.1:{free_port()}")
    result = await providers.search(query())
    assert result.failure == "PROVIDER_UNAVAILABLE"
    assert result.options and {o.provider for o in result.options} == {"amadeus"}


async def test_booking_orders_each_offer_at_its_own_provider(
    two: TwoProviders, server_factory, user: str
) -> None:
    offers = SimOffers()
    server = await server_factory(
        prices=offers, **two.env("search", BOOKING_PROVIDERS="amadeus,other")
    )
    for name, upstream in (("amadeus", two.first), ("other", two.second)):
        raw = fetch_offer(upstream, DAY, Party())
        offer_id = f"{name}-{secrets.token_hex(4)}"
        offers.offers[offer_id] = dataclasses.replace(
            priced_offer(offer_id, raw, Party()), provider=ProviderOffer(name, raw)
        )
        held = (
            await server.stub.CreateBooking(create_request([offer_id]), metadata=server.auth(user))
        ).booking
        assert held.status == pb.BOOKING_STATUS_HELD and held.provider == name
        elsewhere = two.first if upstream is two.second else two.second
        assert len(sim_orders(upstream.sim, held.booking_reference)) == 1
        assert sim_orders(elsewhere.sim, held.booking_reference) == []
        cancelled = (
            await server.stub.CancelBooking(
                pb.CancelBookingRequest(booking_reference=held.booking_reference),
                metadata=server.auth(user),
            )
        ).booking
        assert cancelled.status == pb.BOOKING_STATUS_CANCELLED
        assert sim_orders(upstream.sim, held.booking_reference) == []
