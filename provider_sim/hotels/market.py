"""What changes at run time in the hotel world: rooms sold, a price shift, offers,
orders and order faults.

Plain Python, no aiohttp, one event loop and no awaits inside a method, so checking
the rooms and selling them in one handler step is atomic: no room is sold twice.

**Offers.** An offer id names everything the offer is (hotel, room type, rate plan,
dates, occupancy, room count) and the *price epoch* it was quoted in (base32, like
Amadeus' upper-case ids). Each price change starts a new epoch; an offer priced in an
old epoch is priced again at the current one (``/v3/shopping/hotel-offers/{offerId}``
then answers a new id), and ordering it answers a price discrepancy.

Rooms are tracked per (hotel, room type, night), starting from the inventory's level the
first time a night is touched. ``SimState.reset()`` replaces the market.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from provider_sim.hotels.inventory import (
    MAX_ADULTS,
    MAX_NIGHTS,
    MAX_ROOMS,
    RATE_PLANS_BY_CODE,
    ROOM_TYPES_BY_CODE,
    TAX_PERMILLE,
    Hotel,
    HotelInventory,
    Occupancy,
    RatePlan,
    RoomType,
)
from provider_sim.market import ORDER_FAULT_STATUSES, OrderFault, OrderFaultMode
from provider_sim.world import CURRENCIES

RoomKey = tuple[str, str, date]  # hotel id, room type code, night
COUNTERS: Final = (
    "cities_searched",
    "hotel_lists",
    "hotel_lists_by_id",
    "hotel_offer_searches",
    "hotel_pricings",
    "hotel_sentiments",
    "hotel_orders_created",
    "hotel_orders_cancelled",
)
# Each country's currency (the offers' default currency).
LOCAL_CURRENCY: Final = {
    "GB": "GBP", "CH": "CHF", "DK": "DKK", "NO": "NOK", "SE": "SEK", "US": "USD",
    "CA": "CAD", "AE": "AED", "SG": "SGD",
}  # fmt: skip
_CONFIRMATION_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclasses.dataclass(frozen=True)
class OfferKey:
    hotel_id: str
    room: str
    rate: str
    check_in: date
    check_out: date
    occupancy: Occupancy
    rooms: int
    epoch: int

    def nights(self) -> list[date]:
        return [
            self.check_in + timedelta(days=n) for n in range((self.check_out - self.check_in).days)
        ]

    def encode(self) -> str:
        return _encode(self)

    @staticmethod
    def decode(offer_id: str) -> OfferKey | None:
        return _decode(offer_id)


# An offer id is encoded and decoded several times per request (priced, ordered,
# rendered): keys are immutable, so both are cached.
@functools.lru_cache(maxsize=4096)
def _encode(key: OfferKey) -> str:
    ages = ".".join(str(a) for a in key.occupancy.child_ages)
    text = "|".join(
        [
            "1",
            key.hotel_id,
            key.room,
            key.rate,
            key.check_in.strftime("%Y%m%d"),
            key.check_out.strftime("%Y%m%d"),
            str(key.occupancy.adults),
            ages,
            str(key.rooms),
            str(key.epoch),
        ]
    )
    return base64.b32encode(text.encode()).decode().rstrip("=")


@functools.lru_cache(maxsize=4096)
def _decode(offer_id: str) -> OfferKey | None:
    try:
        padded = offer_id + "=" * (-len(offer_id) % 8)
        parts = base64.b32decode(padded).decode().split("|")
        version, hotel_id, room, rate, check_in, check_out, adults, ages, rooms, epoch = parts
        if version != "1":
            return None
        return OfferKey(
            hotel_id,
            room,
            rate,
            _yyyymmdd(check_in),
            _yyyymmdd(check_out),
            Occupancy(int(adults), tuple(int(a) for a in ages.split(".")) if ages else ()),
            int(rooms),
            int(epoch),
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _yyyymmdd(text: str) -> date:
    """``20260131`` as a date (strptime's ``%Y%m%d``, without its cost); ValueError."""
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a YYYYMMDD date: {text!r}")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


@dataclasses.dataclass(frozen=True)
class PricedHotelOffer:
    key: OfferKey
    hotel: Hotel
    room: RoomType
    rate: RatePlan
    currency: str
    # Per night: (night, base per room, total per room with tax), in ``currency`` cents.
    nights: tuple[tuple[date, int, int], ...]

    @property
    def id(self) -> str:
        return self.key.encode()

    @property
    def base_cents(self) -> int:
        return sum(base for _, base, _ in self.nights) * self.key.rooms

    @property
    def total_cents(self) -> int:
        return sum(total for _, _, total in self.nights) * self.key.rooms


@dataclasses.dataclass
class HotelOrder:
    id: str
    client_id: str
    reference: str
    created_at: float
    rooms: dict[RoomKey, int]
    remark: str
    body: dict[str, Any]


class HotelMarket:
    def __init__(self, inventory: HotelInventory, clock: Callable[[], float] = time.time) -> None:
        self.inventory = inventory
        self._clock = clock
        self._epochs: list[Decimal] = [Decimal(0)]  # epoch -> price percent
        self._rooms: dict[RoomKey, int] = {}
        self._orders: dict[str, HotelOrder] = {}
        self._references: set[str] = set()
        self._order_fault = OrderFault(0, 500, "before", 0)
        self._cancel_fault = OrderFault(0, 500, "before", 0)
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})

    def count(self, name: str) -> None:
        if name not in COUNTERS:
            raise ValueError(f"unknown counter {name}")
        self.counters[name] += 1

    def now_utc(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- prices ------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return len(self._epochs) - 1

    @property
    def price_percent(self) -> Decimal:
        return self._epochs[-1]

    def set_price_percent(self, percent: Decimal) -> None:
        if not Decimal(-90) <= percent <= Decimal(1000):
            raise ValueError("percent must be between -90 and 1000")
        if percent != self._epochs[-1]:
            self._epochs.append(percent)

    def price(self, key: OfferKey, currency: str | None = None) -> PricedHotelOffer | None:
        """The offer priced in its key's epoch; None if the key names nothing we sell."""
        hotel = self.inventory.hotel(key.hotel_id)
        room = ROOM_TYPES_BY_CODE.get(key.room)
        rate = RATE_PLANS_BY_CODE.get(key.rate)
        if (
            hotel is None
            or room is None
            or rate is None
            or hotel.room_count(room) == 0
            or rate not in hotel.rate_plans
            or not 0 <= key.epoch <= self.epoch
            or not 1 <= key.rooms <= MAX_ROOMS
            or not 1 <= key.occupancy.adults <= MAX_ADULTS
            or key.occupancy.guests > room.max_guests
            or not 1 <= (key.check_out - key.check_in).days <= MAX_NIGHTS
        ):
            return None
        currency = currency or LOCAL_CURRENCY.get(hotel.city.country_code, "EUR")
        percent = self._epochs[key.epoch]
        nights = []
        for night in key.nights():
            eur = self.inventory.night_cents(hotel, room, rate, night, key.occupancy)
            if percent:
                shifted = Decimal(eur) * (100 + percent) / 100
                eur = int(shifted.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            base = convert(eur, currency)
            nights.append((night, base, base + (base * TAX_PERMILLE + 500) // 1000))
        return PricedHotelOffer(key, hotel, room, rate, currency, tuple(nights))

    def current(self, key: OfferKey) -> OfferKey:
        return dataclasses.replace(key, epoch=self.epoch)

    # -- rooms -------------------------------------------------------------------------

    def available(self, hotel: Hotel, room: RoomType, night: date) -> int:
        key = (hotel.hotel_id, room.code, night)
        if key in self._rooms:
            return self._rooms[key]
        return self.inventory.initial_rooms(hotel, room, night)

    def bookable(self, key: OfferKey) -> bool:
        hotel = self.inventory.hotel(key.hotel_id)
        room = ROOM_TYPES_BY_CODE.get(key.room)
        if hotel is None or room is None:
            return False
        return all(self.available(hotel, room, night) >= key.rooms for night in key.nights())

    def set_available(self, hotel: Hotel, room: RoomType, night: date, rooms: int) -> None:
        if rooms < 0:
            raise ValueError("rooms must be >= 0")
        if hotel.room_count(room) == 0:
            raise ValueError(f"{hotel.hotel_id} has no {room.code} rooms")
        self._rooms[(hotel.hotel_id, room.code, night)] = rooms

    def _adjust(self, needs: dict[RoomKey, int], sign: int) -> None:
        for (hotel_id, code, night), count in needs.items():
            hotel = self.inventory.hotel(hotel_id)
            assert hotel is not None
            room = ROOM_TYPES_BY_CODE[code]
            self._rooms[(hotel_id, code, night)] = self.available(hotel, room, night) + sign * count

    # -- orders ------------------------------------------------------------------------

    def create_order(
        self,
        client_id: str,
        key: OfferKey,
        remark: str,
        render: Callable[[str, str, float], dict[str, Any]],
    ) -> HotelOrder:
        """Sell the offer's rooms and keep an order. Raises ValueError if sold out."""
        if not self.bookable(key):
            raise ValueError("no rooms available")
        needs = {(key.hotel_id, key.room, night): key.rooms for night in key.nights()}
        order_id, reference, now = self._new_id(), self._new_reference(), self._clock()
        order = HotelOrder(order_id, client_id, reference, now, needs, remark, {})
        order.body = render(order_id, reference, now)
        self._adjust(needs, -1)
        self._orders[order_id] = order
        return order

    def get_order(self, client_id: str, order_id: str) -> HotelOrder | None:
        order = self._orders.get(order_id)
        return order if order is not None and order.client_id == client_id else None

    def cancel_order(self, client_id: str, order_id: str) -> HotelOrder | None:
        order = self.get_order(client_id, order_id)
        if order is None:
            return None
        del self._orders[order_id]
        self._adjust(order.rooms, +1)
        return order

    def orders(self) -> list[HotelOrder]:
        return sorted(self._orders.values(), key=lambda o: (o.created_at, o.reference))

    def _new_id(self) -> str:
        return "H" + secrets.token_hex(8).upper()

    def _new_reference(self) -> str:
        while True:
            reference = "".join(secrets.choice(_CONFIRMATION_ALPHABET) for _ in range(8))
            if reference not in self._references:
                self._references.add(reference)
                return reference

    # -- injected order failures -------------------------------------------------------
    # Order creations and order cancellations fail separately: ``before`` fails the call
    # without doing it, ``after`` does it and then fails the answer (after ``delay_ms``).

    def fail_orders(self, count: int, status: int, mode: str, delay_ms: int) -> None:
        self._order_fault = _fault(count, status, mode, delay_ms)

    def fail_cancels(self, count: int, status: int, mode: str, delay_ms: int) -> None:
        self._cancel_fault = _fault(count, status, mode, delay_ms)

    def take_order_fault(self, mode: OrderFaultMode) -> OrderFault | None:
        return _take(self._order_fault, mode)

    def take_cancel_fault(self, mode: OrderFaultMode) -> OrderFault | None:
        return _take(self._cancel_fault, mode)

    def order_fault_view(self) -> dict[str, Any]:
        return self._order_fault.view()

    def cancel_fault_view(self) -> dict[str, Any]:
        return self._cancel_fault.view()

    def stats(self) -> dict[str, Any]:
        return {**dict(self.counters), "hotel_orders_live": len(self._orders)}


def _fault(count: int, status: int, mode: str, delay_ms: int) -> OrderFault:
    if count < 0 or delay_ms < 0:
        raise ValueError("count and delay_ms must be >= 0")
    if status not in ORDER_FAULT_STATUSES:
        allowed = ", ".join(str(s) for s in sorted(ORDER_FAULT_STATUSES))
        raise ValueError(f"status must be one of {allowed}")
    if mode not in ("before", "after"):
        raise ValueError("mode must be 'before' or 'after'")
    return OrderFault(count, status, "before" if mode == "before" else "after", delay_ms)


def _take(fault: OrderFault, mode: OrderFaultMode) -> OrderFault | None:
    if fault.remaining <= 0 or fault.mode != mode:
        return None
    fault.remaining -= 1
    return dataclasses.replace(fault)


def convert(eur_cents: int, currency: str) -> int:
    rate = CURRENCIES[currency][1]
    if rate == 1:
        return eur_cents
    return int((Decimal(eur_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
