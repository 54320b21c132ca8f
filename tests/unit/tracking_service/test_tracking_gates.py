"""The per-user create queue and the airports check's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tracking_service.airports import KnownAirports
from tracking_service.gates import KeyedGate


async def test_one_key_at_a_time_other_keys_free_and_nothing_kept() -> None:
    gate = KeyedGate()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    order: list[str] = []

    async def enter(key: str, pause: float) -> None:
        async with gate.hold(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            await asyncio.sleep(pause)
            order.append(key)
            inside[key] -= 1

    burst = [asyncio.create_task(enter("a", 0.01)) for _ in range(20)]
    await asyncio.sleep(0.005)
    await asyncio.wait_for(enter("b", 0), 0.05)  # not behind the burst
    assert order[0] == "b"
    await asyncio.gather(*burst)
    assert most == {"a": 1, "b": 1}
    assert len(gate) == 0


async def test_a_cancelled_waiter_leaves_the_gate_clean() -> None:
    gate = KeyedGate()
    async with gate.hold("a"):
        waiter = asyncio.create_task(enter_and_leave(gate))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    assert len(gate) == 0


async def enter_and_leave(gate: KeyedGate) -> None:
    async with gate.hold("a"):
        pass


async def test_known_airports_are_remembered_unknown_ones_asked_again() -> None:
    asked: list[list[str]] = []
    table = {"LHR", "JFK"}
    now = [0.0]

    async def lookup(codes: Sequence[str]) -> set[str]:
        asked.append(list(codes))
        return set(codes) & table

    airports = KnownAirports(lookup, ttl_seconds=60, clock=lambda: now[0])
    assert await airports.unknown(["LHR", "XXX"]) == {"XXX"}
    assert await airports.unknown(["LHR", "JFK"]) == set()
    assert asked == [["LHR", "XXX"], ["JFK"]]
    table.add("XXX")  # added to the inventory: accepted at once
    assert await airports.unknown(["XXX"]) == set()
    now[0] = 61.0
    assert await airports.unknown(["LHR"]) == set()
    assert asked[-1] == ["LHR"]
