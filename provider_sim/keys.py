"""Typed keys for what handlers share through the aiohttp app and request objects."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from provider_sim.state import IssuedToken, SimState

STATE_KEY: Final = web.AppKey("provider_sim.state", SimState)
# Set by ``require_bearer`` so API handlers know which token the call used.
TOKEN_KEY: Final = web.RequestKey("provider_sim.token", IssuedToken)
