"""Filters, sort keys and the proto shapes of hotel results.

The filters are applied exactly here, whatever the supplier already narrowed: stars and
amenities per hotel; refundable, board and price caps per offer (a cap in another
currency than the offer's does not match). A hotel with no matching offer is left out.
Sort keys are (primary, cheapest total, 0, hotel id), so ties are broken by price, then
id, and pagination (search_service/pagination.py) can continue after any key.
"""

from __future__ import annotations

from collections.abc import Iterable

from search_service.hotels.query import HotelQuery, HotelSort
from search_service.pagination import SortKey
from search_service.pricing import money, money_cents
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.hotel_stay import BOARD_ENUMS
from services.providers.hotels import Hotel, HotelOffers, HotelRate

MAX_OFFERS_PER_HOTEL = 20


def per_night_cents(rate: HotelRate) -> int:
    return rate.total_cents // max(1, rate.nights * rate.rooms)


def rate_matches(rate: HotelRate, query: HotelQuery) -> bool:
    if query.refundable_only and not rate.refundable:
        return False
    if query.boards and rate.board_type not in query.boards:
        return False
    if query.max_night_cents is not None and (
        rate.currency != query.max_night_currency or per_night_cents(rate) > query.max_night_cents
    ):
        return False
    return query.max_total_cents is None or (
        rate.currency == query.max_total_currency and rate.total_cents <= query.max_total_cents
    )


def hotel_matches(hotel: Hotel, query: HotelQuery) -> bool:
    return hotel.stars >= query.min_stars and set(query.amenities) <= set(hotel.amenities)


def select(found: Iterable[HotelOffers], query: HotelQuery) -> list[HotelOffers]:
    """The hotels and offers that match, offers cheapest first, hotels in sort order."""
    kept = []
    for item in found:
        if not hotel_matches(item.hotel, query):
            continue
        rates = sorted(
            (r for r in item.rates if rate_matches(r, query)),
            key=lambda r: (r.total_cents, r.offer_id),
        )
        if rates:
            kept.append(HotelOffers(item.hotel, tuple(rates[:MAX_OFFERS_PER_HOTEL])))
    kept.sort(key=lambda h: sort_key(query.sort, h.hotel, h.rates[0].total_cents))
    return kept


def sort_key(sort: HotelSort, hotel: Hotel, cheapest_cents: int) -> SortKey:
    return _key(sort, hotel.stars, hotel.rating, hotel.distance_km, cheapest_cents, hotel.hotel_id)


def proto_sort_key(sort: HotelSort, result: pb.HotelResult) -> SortKey:
    h = result.hotel
    cheapest = money_cents(result.offers[0].total_price) if result.offers else 0
    return _key(sort, h.stars, h.guest_rating, h.distance_km, cheapest, h.hotel_id)


def _key(
    sort: HotelSort, stars: int, rating: int, distance_km: float, cheapest: int, hotel_id: str
) -> SortKey:
    if sort == HotelSort.STARS:
        return (-stars, cheapest, 0, hotel_id)
    if sort == HotelSort.DISTANCE:
        return (round(distance_km * 1000), cheapest, 0, hotel_id)
    if sort == HotelSort.RATING:
        return (-rating, cheapest, 0, hotel_id)
    return (cheapest, 0, 0, hotel_id)


def hotel_pb(hotel: Hotel, provider: str) -> pb.Hotel:
    return pb.Hotel(
        hotel_id=hotel.hotel_id,
        provider=provider,
        name=hotel.name,
        city_code=hotel.city_code,
        area=hotel.area,
        stars=hotel.stars,
        guest_rating=hotel.rating,
        amenities=list(hotel.amenities),
        location=pb.GeoPoint(latitude=hotel.latitude, longitude=hotel.longitude),
        distance_km=hotel.distance_km,
    )


def offer_pb(
    rate: HotelRate, query_adults: int, child_ages: Iterable[int], offer_id: str
) -> pb.HotelOffer:
    offer = pb.HotelOffer(
        offer_id=offer_id,
        hotel_id=rate.hotel_id,
        room_type=rate.room_type,
        room_category=rate.room_category,
        room_description=rate.room_description,
        board_type=BOARD_ENUMS.get(rate.board_type, pb.BOARD_TYPE_UNSPECIFIED),
        refundable=rate.refundable,
        total_price=money(rate.total_cents, rate.currency),
        price_per_night=money(per_night_cents(rate), rate.currency),
        nights=rate.nights,
        rooms=rate.rooms,
        occupancy=pb.RoomOccupancy(adults=query_adults, children_ages=list(child_ages)),
        rate_code=rate.rate_code,
    )
    raw = rate.raw
    offer.check_in_date = str(raw.get("checkInDate", ""))
    offer.check_out_date = str(raw.get("checkOutDate", ""))
    if rate.cancellation_deadline is not None:
        offer.cancellation_deadline.seconds = int(rate.cancellation_deadline.timestamp())
    return offer
