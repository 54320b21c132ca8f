"""The stand-in's hotel login for in-process tests and benchmarks: a TokenCaller over
its password grant, standing in for the token service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from provider_sim.state import SimState
from services.clients.token_client import UpstreamUnauthorized

T = TypeVar("T")
HOTEL_CLIENT, HOTEL_SECRET = "hotel-client", "hotel-secret-for-tests"
USER, PASSWORD = "ops", "ops-password-for-tests"


class LoginTokens:
    """TokenCaller over the stand-in's hotel login (password grant): on a 401 it logs in
    again and retries once, as the token client does through the token service."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._url = base_url + "/hotel/v1/auth/token"
        self._token = ""
        self.logins = 0

    async def _login(self) -> str:
        form = {
            "grant_type": "password",
            "username": USER,
            "password": PASSWORD,
            "client_id": HOTEL_CLIENT,
            "client_secret": HOTEL_SECRET,
        }
        async with self._session.post(self._url, data=form) as response:
            assert response.status == 200
            self.logins += 1
            return str((await response.json())["access_token"])

    async def call_with_token(self, provider: str, call: Callable[[str], Awaitable[T]]) -> T:
        if not self._token:
            self._token = await self._login()
        try:
            return await call(self._token)
        except UpstreamUnauthorized:
            self._token = await self._login()
            return await call(self._token)


def hotel_sim_state() -> SimState:
    """A stand-in state with the hotel client and user ``LoginTokens`` logs in as."""
    return SimState(
        {"amadeus-client": "amadeus-secret"},
        hotel_clients={HOTEL_CLIENT: HOTEL_SECRET},
        hotel_users={USER: PASSWORD},
    )
