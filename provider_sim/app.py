"""``create_app(state)``: the simulator's routes and middlewares, nothing else.

Kept apart from serving so tests can mount the same application on a test server.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from provider_sim import (
    control,
    flight_control,
    grant_control,
    hotel,
    oauth,
    orders,
    rate_limit,
    reference,
    shopping,
)
from provider_sim.access_log import access_log_middleware
from provider_sim.errors import not_found
from provider_sim.hotels import control as hotel_control
from provider_sim.hotels import orders as hotel_orders
from provider_sim.hotels import shopping as hotel_shopping
from provider_sim.keys import STATE_KEY
from provider_sim.state import SimState


def create_app(state: SimState) -> web.Application:
    app = web.Application(
        middlewares=[
            access_log_middleware,
            rate_limit.rate_limit_middleware,
            amadeus_not_found_middleware,
        ]
    )
    app[STATE_KEY] = state
    app.router.add_post(oauth.TOKEN_PATH, oauth.issue_token)
    app.router.add_get(oauth.TOKEN_INFO_PATH, oauth.token_info)
    hotel.add_routes(app)
    app.router.add_get(reference.AIRLINES_PATH, reference.airlines)
    shopping.add_routes(app)
    orders.add_routes(app)
    hotel_shopping.add_routes(app)
    hotel_orders.add_routes(app)
    control.add_routes(app)
    flight_control.add_routes(app)
    grant_control.add_routes(app)
    hotel_control.add_routes(app)
    rate_limit.add_routes(app)
    return app


@web.middleware
async def amadeus_not_found_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Unknown API paths get Amadeus' JSON 404 (code 38196), not aiohttp's text page."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith(control.CONTROL_PREFIX + "/"):
            raise
        return not_found()
