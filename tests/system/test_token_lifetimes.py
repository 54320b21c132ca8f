"""Exactly one upstream token request per token lifetime across all replicas."""

from __future__ import annotations

import itertools

import pytest

from tests.utils.load import hammer

TTL = 2.0
LIFETIMES = 5
CALLERS = 200

# Short tokens: refresh at 75-85% of the lifetime, margin capped at half of it.
# The hand-out floor is lowered with the margin: the margin is never below the floor.
FAST_REFRESH = {
    "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3",
    "TOKEN_MIN_HANDOUT_SECONDS": "0.3",
    "TOKEN_LOCK_TTL_SECONDS": "2",
    "UPSTREAM_TIMEOUT_SECONDS": "1.5",
}


@pytest.mark.redis_backends
async def test_one_upstream_request_per_lifetime_under_load(sim_factory, cluster_factory):
    sim = sim_factory(token_ttl=TTL)
    cluster = cluster_factory(sim, replicas=3, env=FAST_REFRESH)
    client_id = cluster.client_ids["amadeus"]
    client = cluster.client()
    try:
        calls, errors, seen = await hammer(client, "amadeus", TTL * LIFETIMES, CALLERS)
    finally:
        await client.close()

    assert errors == []
    assert calls > CALLERS * LIFETIMES  # the load was real
    issued = [t for t in sim.stats()["issued"] if t["client_id"] == client_id]
    # Every token the provider issued was served (none fetched twice and thrown away) ...
    assert len(issued) == len(seen)
    # ... and consecutive tokens are a refresh window apart, never a race apart.
    starts = sorted(t["issued_at"] for t in issued)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= TTL * 0.7, gaps
    # One request per lifetime: the run spans LIFETIMES lifetimes, refreshed at 75-85%.
    assert LIFETIMES <= len(issued) <= int(LIFETIMES / 0.75) + 1
    assert sim.stats()["token_requests_failed"] == {}
