"""What changes at run time on top of the inventory: seats, price shift, orders, faults.

Plain Python, no aiohttp. Everything runs on one event loop and no method awaits, so a
check-then-sell (``shortfall`` then ``create_order``) inside one handler step is atomic:
the stand-in never oversells, however many clients book at once.

Seats are tracked per (carrier, flight number, departure date, cabin), starting from the
inventory's initial level the first time a flight is touched. A price shift (percent)
applies to every base fare computed from then on, including re-pricing of offers that
were searched before the shift. ``SimState.reset()`` replaces the market with a new one.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

from provider_sim.inventory import Flight, Inventory

SeatKey = tuple[str, str, date, str]  # carrier, number, local departure date, cabin
OrderFaultMode = Literal["before", "after"]
ORDER_FAULT_MODES: Final = ("before", "after")
ORDER_FAULT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
MIN_PRICE_PERCENT: Final = Decimal(-90)
MAX_PRICE_PERCENT: Final = Decimal(1000)
# PNR alphabet without look-alikes (0/O, 1/I).
_PNR_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def seat_key(flight: Flight, cabin: str) -> SeatKey:
    return (flight.carrier, flight.number, flight.date, cabin)


@dataclasses.dataclass
class Order:
    id: str
    client_id: str
    reference: str
    created_at: float
    seats: dict[SeatKey, int]
    body: dict[str, Any]  # the JSON served for the order: {"data": ..., "dictionaries": ...}


@dataclasses.dataclass
class OrderFault:
    """The next ``remaining`` order creations fail with ``status`` at ``mode``."""

    remaining: int
    status: int
    mode: OrderFaultMode
    delay_ms: int

    def view(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Market:
    def __init__(self, inventory: Inventory, clock: Callable[[], float] = time.time) -> None:
        self.inventory = inventory
        self._clock = clock
        self.price_percent = Decimal(0)
        self._seats: dict[SeatKey, int] = {}
        self._orders: dict[str, Order] = {}
        self._references: set[str] = set()
        self._order_fault = OrderFault(0, 500, "before", 0)

    def now_utc(self) -> datetime:
        """The current instant as a naive UTC datetime (the inventory's convention)."""
        return datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)

    # -- prices ------------------------------------------------------------------------

    def set_price_percent(self, percent: Decimal) -> None:
        if not MIN_PRICE_PERCENT <= percent <= MAX_PRICE_PERCENT:
            raise ValueError(f"percent must be between {MIN_PRICE_PERCENT} and {MAX_PRICE_PERCENT}")
        self.price_percent = percent

    def fare_cents(self, flight: Flight, cabin: str) -> int:
        """Current adult base fare in euro cents: the inventory's, shifted."""
        base = self.inventory.base_fare_cents(flight, cabin)
        if not self.price_percent:
            return base
        shifted = Decimal(base) * (100 + self.price_percent) / 100
        return int(shifted.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    # -- seats -------------------------------------------------------------------------

    def available(self, flight: Flight, cabin: str) -> int:
        key = seat_key(flight, cabin)
        if key in self._seats:
            return self._seats[key]
        return self.inventory.initial_seats(flight, cabin)

    def set_available(self, flight: Flight, cabin: str, seats: int) -> None:
        if seats < 0:
            raise ValueError("seats must be >= 0")
        if cabin not in flight.service.cabins:
            raise ValueError(f"{flight.service.flight_number} has no {cabin} cabin")
        self._seats[seat_key(flight, cabin)] = seats

    def shortfall(self, needs: Mapping[SeatKey, int]) -> SeatKey | None:
        """The first seat key (in ``needs`` order) without enough seats, else None."""
        for key, count in needs.items():
            flight = self.inventory.flight(key[0], key[1], key[2])
            if flight is None or self.available(flight, key[3]) < count:
                return key
        return None

    def _adjust(self, needs: Mapping[SeatKey, int], sign: int) -> None:
        for key, count in needs.items():
            flight = self.inventory.flight(key[0], key[1], key[2])
            assert flight is not None  # keys only ever come from inventory flights
            self._seats[key] = self.available(flight, key[3]) + sign * count

    # -- orders ------------------------------------------------------------------------

    def create_order(
        self,
        client_id: str,
        seats: Mapping[SeatKey, int],
        render: Callable[[str, str, float], dict[str, Any]],
    ) -> Order:
        """Sell ``seats`` and store an order; ``render(id, reference, created_at)``
        builds its JSON body. Raises ValueError if the seats are no longer there."""
        if self.shortfall(seats) is not None:
            raise ValueError("not enough seats")
        order_id, reference, now = self._new_id(), self._new_reference(), self._clock()
        order = Order(order_id, client_id, reference, now, dict(seats), {})
        order.body = render(order_id, reference, now)
        self._adjust(seats, -1)
        self._orders[_canonical(order_id)] = order
        return order

    def get_order(self, client_id: str, order_id: str) -> Order | None:
        """The client's order by id, tolerant of the id being percent-encoded or not."""
        order = self._orders.get(_canonical(order_id))
        return order if order is not None and order.client_id == client_id else None

    def cancel_order(self, client_id: str, order_id: str) -> Order | None:
        """Remove the order and give its seats back; None if there is no such order."""
        order = self.get_order(client_id, order_id)
        if order is None:
            return None
        del self._orders[_canonical(order_id)]
        self._adjust(order.seats, +1)
        return order

    def orders(self) -> list[Order]:
        return sorted(self._orders.values(), key=lambda o: (o.created_at, o.reference))

    def _new_id(self) -> str:
        # Shaped like Amadeus order ids: base64 with its padding percent-encoded
        # ("eJzTd9f3NjIJdjUGAAtfAiM%3D"); clients must treat it as opaque.
        raw = base64.urlsafe_b64encode(b"sim" + secrets.token_bytes(13)).decode()
        return urllib.parse.quote("eJz" + raw, safe="")

    def _new_reference(self) -> str:
        while True:
            reference = "".join(secrets.choice(_PNR_ALPHABET) for _ in range(6))
            if reference not in self._references:
                self._references.add(reference)
                return reference

    # -- injected order failures -------------------------------------------------------

    def fail_orders(self, count: int, status: int, mode: str, delay_ms: int) -> None:
        if count < 0 or delay_ms < 0:
            raise ValueError("count and delay_ms must be >= 0")
        if status not in ORDER_FAULT_STATUSES:
            allowed = ", ".join(str(s) for s in sorted(ORDER_FAULT_STATUSES))
            raise ValueError(f"status must be one of {allowed}")
        if mode == "before":
            self._order_fault = OrderFault(count, status, "before", delay_ms)
        elif mode == "after":
            self._order_fault = OrderFault(count, status, "after", delay_ms)
        else:
            raise ValueError("mode must be 'before' or 'after'")

    def take_order_fault(self, mode: OrderFaultMode) -> OrderFault | None:
        """Consume one pending failure for ``mode``, if any."""
        fault = self._order_fault
        if fault.remaining <= 0 or fault.mode != mode:
            return None
        fault.remaining -= 1
        return dataclasses.replace(fault)

    def order_fault_view(self) -> dict[str, Any]:
        return self._order_fault.view()


def _canonical(order_id: str) -> str:
    """Order ids compare after percent-decoding, so ``...%3D``, ``...=`` and the
    double-encoded ``...%253D`` (after the router decoded it once) all match."""
    return urllib.parse.unquote(urllib.parse.unquote(order_id))
