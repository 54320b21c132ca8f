"""The hotel stack as processes: the stand-in (hotel supplier with its own login), token
replicas holding the supplier's token through the password grant (rotating refresh
tokens), search replicas sharing Redis and PostgreSQL (flights from the inventory only
unless ``search_env`` turns the flight provider on). Used by the hotel search, hotel
tracker and package system tests (the packages' stack adds booking replicas)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path

from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import CALLERS, TokenCluster

HOTEL_ID, HOTEL_SECRET = f"hotel-{secrets.token_hex(3)}", secrets.token_urlsafe(24)
USER, PASSWORD = "skyroute-ops", secrets.token_urlsafe(18)


class HotelStack:
    def __init__(
        self,
        workdir: Path,
        database_url: str,
        redis_url: str,
        search_env: Mapping[str, str] | None = None,
        *,
        token_replicas: int = 2,
        search_replicas: int = 2,
    ) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.sim = Sim(
            workdir,
            new_clients(),
            hotel_clients={HOTEL_ID: HOTEL_SECRET},
            hotel_users={USER: PASSWORD},
        ).start()
        callers = {
            **CALLERS,
            "search": [*CALLERS["search"], "hotel"],
            "booking": [*CALLERS["booking"], "hotel"],
        }
        self.tokens = TokenCluster(
            workdir,
            self.sim,
            redis_url,
            self.prefix,
            token_replicas,
            env={
                "TOKEN_PROVIDERS": "amadeus,other,hotel",
                "TOKEN_CALLERS": json.dumps(callers),
                "PROVIDER_HOTEL_TOKEN_URL": self.sim.hotel_token_url,
                "PROVIDER_HOTEL_CLIENT_ID": HOTEL_ID,
                "PROVIDER_HOTEL_CLIENT_SECRET": HOTEL_SECRET,
                "PROVIDER_HOTEL_GRANT": "password",
                "PROVIDER_HOTEL_USERNAME": USER,
                "PROVIDER_HOTEL_PASSWORD": PASSWORD,
            },
        ).start()
        self.tokens.secrets += [HOTEL_SECRET, PASSWORD]
        self.search = SearchCluster(
            workdir,
            database_url,
            redis_url,
            self.prefix,
            search_replicas,
            self.tokens,
            env={
                "PROVIDER_ENABLED": "false",
                "SEARCH_HOTEL_PROVIDER": "hotel",
                "PROVIDER_HOTEL_BASE_URL": self.sim.base_url,
                # flush_cache deletes search keys by hand between cases: a replica's
                # trusted copy of a result would outlive that by up to this window.
                "SEARCH_CACHE_LOCAL_STALENESS_SECONDS": "0",
                **(search_env or {}),
            },
        ).start()

    def flush_cache(self) -> None:
        delete_matching(self.redis_url, f"{self.prefix}:search:*")

    def stop(self) -> None:
        self.search.stop()
        self.tokens.stop()
        self.sim.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")
