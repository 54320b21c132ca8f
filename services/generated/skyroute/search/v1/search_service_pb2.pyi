import datetime

from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from services.generated.skyroute.common.v1 import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Cabin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CABIN_UNSPECIFIED: _ClassVar[Cabin]
    CABIN_ECONOMY: _ClassVar[Cabin]
    CABIN_PREMIUM_ECONOMY: _ClassVar[Cabin]
    CABIN_BUSINESS: _ClassVar[Cabin]
    CABIN_FIRST: _ClassVar[Cabin]

class SortOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SORT_ORDER_UNSPECIFIED: _ClassVar[SortOrder]
    SORT_ORDER_PRICE: _ClassVar[SortOrder]
    SORT_ORDER_DURATION: _ClassVar[SortOrder]
    SORT_ORDER_DEPARTURE_TIME: _ClassVar[SortOrder]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_INVENTORY: _ClassVar[Source]
    SOURCE_PROVIDER: _ClassVar[Source]

class BoardType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOARD_TYPE_UNSPECIFIED: _ClassVar[BoardType]
    BOARD_TYPE_ROOM_ONLY: _ClassVar[BoardType]
    BOARD_TYPE_BREAKFAST: _ClassVar[BoardType]
    BOARD_TYPE_HALF_BOARD: _ClassVar[BoardType]
    BOARD_TYPE_FULL_BOARD: _ClassVar[BoardType]
    BOARD_TYPE_ALL_INCLUSIVE: _ClassVar[BoardType]

class HotelSortOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOTEL_SORT_ORDER_UNSPECIFIED: _ClassVar[HotelSortOrder]
    HOTEL_SORT_ORDER_PRICE: _ClassVar[HotelSortOrder]
    HOTEL_SORT_ORDER_STARS: _ClassVar[HotelSortOrder]
    HOTEL_SORT_ORDER_DISTANCE: _ClassVar[HotelSortOrder]
    HOTEL_SORT_ORDER_RATING: _ClassVar[HotelSortOrder]
CABIN_UNSPECIFIED: Cabin
CABIN_ECONOMY: Cabin
CABIN_PREMIUM_ECONOMY: Cabin
CABIN_BUSINESS: Cabin
CABIN_FIRST: Cabin
SORT_ORDER_UNSPECIFIED: SortOrder
SORT_ORDER_PRICE: SortOrder
SORT_ORDER_DURATION: SortOrder
SORT_ORDER_DEPARTURE_TIME: SortOrder
SOURCE_UNSPECIFIED: Source
SOURCE_INVENTORY: Source
SOURCE_PROVIDER: Source
BOARD_TYPE_UNSPECIFIED: BoardType
BOARD_TYPE_ROOM_ONLY: BoardType
BOARD_TYPE_BREAKFAST: BoardType
BOARD_TYPE_HALF_BOARD: BoardType
BOARD_TYPE_FULL_BOARD: BoardType
BOARD_TYPE_ALL_INCLUSIVE: BoardType
HOTEL_SORT_ORDER_UNSPECIFIED: HotelSortOrder
HOTEL_SORT_ORDER_PRICE: HotelSortOrder
HOTEL_SORT_ORDER_STARS: HotelSortOrder
HOTEL_SORT_ORDER_DISTANCE: HotelSortOrder
HOTEL_SORT_ORDER_RATING: HotelSortOrder

class Passengers(_message.Message):
    __slots__ = ("adults", "children", "infants")
    ADULTS_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    INFANTS_FIELD_NUMBER: _ClassVar[int]
    adults: int
    children: int
    infants: int
    def __init__(self, adults: _Optional[int] = ..., children: _Optional[int] = ..., infants: _Optional[int] = ...) -> None: ...

class TimeOfDayRange(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: str
    end_time: str
    def __init__(self, start_time: _Optional[str] = ..., end_time: _Optional[str] = ...) -> None: ...

class SearchFilters(_message.Message):
    __slots__ = ("max_stops", "included_airline_codes", "excluded_airline_codes", "departure_time_window", "max_total_price")
    MAX_STOPS_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_AIRLINE_CODES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_AIRLINE_CODES_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_TIME_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    max_stops: int
    included_airline_codes: _containers.RepeatedScalarFieldContainer[str]
    excluded_airline_codes: _containers.RepeatedScalarFieldContainer[str]
    departure_time_window: TimeOfDayRange
    max_total_price: _money_pb2.Money
    def __init__(self, max_stops: _Optional[int] = ..., included_airline_codes: _Optional[_Iterable[str]] = ..., excluded_airline_codes: _Optional[_Iterable[str]] = ..., departure_time_window: _Optional[_Union[TimeOfDayRange, _Mapping]] = ..., max_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class SearchFlightsRequest(_message.Message):
    __slots__ = ("origin", "destination", "departure_date", "return_date", "passengers", "cabin", "filters", "flexible_days", "sort_order", "page_size", "page_token", "include_provider_offers")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_DATE_FIELD_NUMBER: _ClassVar[int]
    RETURN_DATE_FIELD_NUMBER: _ClassVar[int]
    PASSENGERS_FIELD_NUMBER: _ClassVar[int]
    CABIN_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    FLEXIBLE_DAYS_FIELD_NUMBER: _ClassVar[int]
    SORT_ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PROVIDER_OFFERS_FIELD_NUMBER: _ClassVar[int]
    origin: str
    destination: str
    departure_date: str
    return_date: str
    passengers: Passengers
    cabin: Cabin
    filters: SearchFilters
    flexible_days: int
    sort_order: SortOrder
    page_size: int
    page_token: str
    include_provider_offers: bool
    def __init__(self, origin: _Optional[str] = ..., destination: _Optional[str] = ..., departure_date: _Optional[str] = ..., return_date: _Optional[str] = ..., passengers: _Optional[_Union[Passengers, _Mapping]] = ..., cabin: _Optional[_Union[Cabin, str]] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., flexible_days: _Optional[int] = ..., sort_order: _Optional[_Union[SortOrder, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_provider_offers: _Optional[bool] = ...) -> None: ...

class SearchFlightsResponse(_message.Message):
    __slots__ = ("itineraries", "next_page_token", "total_size", "partial", "partial_reason", "inventory_dates")
    ITINERARIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_REASON_FIELD_NUMBER: _ClassVar[int]
    INVENTORY_DATES_FIELD_NUMBER: _ClassVar[int]
    itineraries: _containers.RepeatedCompositeFieldContainer[Itinerary]
    next_page_token: str
    total_size: int
    partial: bool
    partial_reason: str
    inventory_dates: InventoryDates
    def __init__(self, itineraries: _Optional[_Iterable[_Union[Itinerary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., partial: _Optional[bool] = ..., partial_reason: _Optional[str] = ..., inventory_dates: _Optional[_Union[InventoryDates, _Mapping]] = ...) -> None: ...

class InventoryDates(_message.Message):
    __slots__ = ("first_date", "last_date", "nonstop_to_destination")
    FIRST_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_DATE_FIELD_NUMBER: _ClassVar[int]
    NONSTOP_TO_DESTINATION_FIELD_NUMBER: _ClassVar[int]
    first_date: str
    last_date: str
    nonstop_to_destination: bool
    def __init__(self, first_date: _Optional[str] = ..., last_date: _Optional[str] = ..., nonstop_to_destination: _Optional[bool] = ...) -> None: ...

class Itinerary(_message.Message):
    __slots__ = ("offer_id", "source", "provider", "journeys", "cabin", "passengers", "total_price", "total_duration", "seats_available", "refundable")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    JOURNEYS_FIELD_NUMBER: _ClassVar[int]
    CABIN_FIELD_NUMBER: _ClassVar[int]
    PASSENGERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DURATION_FIELD_NUMBER: _ClassVar[int]
    SEATS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    source: Source
    provider: str
    journeys: _containers.RepeatedCompositeFieldContainer[Journey]
    cabin: Cabin
    passengers: Passengers
    total_price: _money_pb2.Money
    total_duration: _duration_pb2.Duration
    seats_available: int
    refundable: bool
    def __init__(self, offer_id: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., provider: _Optional[str] = ..., journeys: _Optional[_Iterable[_Union[Journey, _Mapping]]] = ..., cabin: _Optional[_Union[Cabin, str]] = ..., passengers: _Optional[_Union[Passengers, _Mapping]] = ..., total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., seats_available: _Optional[int] = ..., refundable: _Optional[bool] = ...) -> None: ...

class Journey(_message.Message):
    __slots__ = ("segments", "duration", "stops")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    STOPS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    duration: _duration_pb2.Duration
    stops: int
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stops: _Optional[int] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("airline_code", "flight_number", "flight_designator", "origin", "destination", "departure_time", "departure_local_time", "departure_time_zone", "arrival_time", "arrival_local_time", "arrival_time_zone", "duration", "layover", "price", "seats_available", "refundable", "change_fee", "fare_id")
    AIRLINE_CODE_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_DESIGNATOR_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_TIME_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    LAYOVER_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SEATS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FEE_FIELD_NUMBER: _ClassVar[int]
    FARE_ID_FIELD_NUMBER: _ClassVar[int]
    airline_code: str
    flight_number: int
    flight_designator: str
    origin: str
    destination: str
    departure_time: _timestamp_pb2.Timestamp
    departure_local_time: str
    departure_time_zone: str
    arrival_time: _timestamp_pb2.Timestamp
    arrival_local_time: str
    arrival_time_zone: str
    duration: _duration_pb2.Duration
    layover: _duration_pb2.Duration
    price: _money_pb2.Money
    seats_available: int
    refundable: bool
    change_fee: _money_pb2.Money
    fare_id: int
    def __init__(self, airline_code: _Optional[str] = ..., flight_number: _Optional[int] = ..., flight_designator: _Optional[str] = ..., origin: _Optional[str] = ..., destination: _Optional[str] = ..., departure_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., departure_local_time: _Optional[str] = ..., departure_time_zone: _Optional[str] = ..., arrival_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., arrival_local_time: _Optional[str] = ..., arrival_time_zone: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., layover: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., seats_available: _Optional[int] = ..., refundable: _Optional[bool] = ..., change_fee: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fare_id: _Optional[int] = ...) -> None: ...

class GetOfferRequest(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class GetOfferResponse(_message.Message):
    __slots__ = ("itinerary",)
    ITINERARY_FIELD_NUMBER: _ClassVar[int]
    itinerary: Itinerary
    def __init__(self, itinerary: _Optional[_Union[Itinerary, _Mapping]] = ...) -> None: ...

class PriceOfferRequest(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class PriceOfferResponse(_message.Message):
    __slots__ = ("itinerary", "price_changed", "original_total_price", "current_total_price", "available", "price_guarantee_expire_time", "provider_offer_json")
    ITINERARY_FIELD_NUMBER: _ClassVar[int]
    PRICE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PRICE_GUARANTEE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_OFFER_JSON_FIELD_NUMBER: _ClassVar[int]
    itinerary: Itinerary
    price_changed: bool
    original_total_price: _money_pb2.Money
    current_total_price: _money_pb2.Money
    available: bool
    price_guarantee_expire_time: _timestamp_pb2.Timestamp
    provider_offer_json: str
    def __init__(self, itinerary: _Optional[_Union[Itinerary, _Mapping]] = ..., price_changed: _Optional[bool] = ..., original_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., current_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., available: _Optional[bool] = ..., price_guarantee_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider_offer_json: _Optional[str] = ...) -> None: ...

class GeoPoint(_message.Message):
    __slots__ = ("latitude", "longitude")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class HotelDestination(_message.Message):
    __slots__ = ("code", "name", "point", "radius_km")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    point: GeoPoint
    radius_km: int
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., point: _Optional[_Union[GeoPoint, _Mapping]] = ..., radius_km: _Optional[int] = ...) -> None: ...

class RoomOccupancy(_message.Message):
    __slots__ = ("adults", "children_ages")
    ADULTS_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_AGES_FIELD_NUMBER: _ClassVar[int]
    adults: int
    children_ages: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, adults: _Optional[int] = ..., children_ages: _Optional[_Iterable[int]] = ...) -> None: ...

class HotelFilters(_message.Message):
    __slots__ = ("max_price_per_night", "max_total_price", "min_stars", "amenities", "refundable_only", "board_types")
    MAX_PRICE_PER_NIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    MIN_STARS_FIELD_NUMBER: _ClassVar[int]
    AMENITIES_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    BOARD_TYPES_FIELD_NUMBER: _ClassVar[int]
    max_price_per_night: _money_pb2.Money
    max_total_price: _money_pb2.Money
    min_stars: int
    amenities: _containers.RepeatedScalarFieldContainer[str]
    refundable_only: bool
    board_types: _containers.RepeatedScalarFieldContainer[BoardType]
    def __init__(self, max_price_per_night: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., max_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., min_stars: _Optional[int] = ..., amenities: _Optional[_Iterable[str]] = ..., refundable_only: _Optional[bool] = ..., board_types: _Optional[_Iterable[_Union[BoardType, str]]] = ...) -> None: ...

class SearchHotelsRequest(_message.Message):
    __slots__ = ("destination", "hotel_ids", "check_in_date", "check_out_date", "rooms", "filters", "sort_order", "page_size", "page_token", "currency_code")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    HOTEL_IDS_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_DATE_FIELD_NUMBER: _ClassVar[int]
    CHECK_OUT_DATE_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SORT_ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    destination: HotelDestination
    hotel_ids: _containers.RepeatedScalarFieldContainer[str]
    check_in_date: str
    check_out_date: str
    rooms: _containers.RepeatedCompositeFieldContainer[RoomOccupancy]
    filters: HotelFilters
    sort_order: HotelSortOrder
    page_size: int
    page_token: str
    currency_code: str
    def __init__(self, destination: _Optional[_Union[HotelDestination, _Mapping]] = ..., hotel_ids: _Optional[_Iterable[str]] = ..., check_in_date: _Optional[str] = ..., check_out_date: _Optional[str] = ..., rooms: _Optional[_Iterable[_Union[RoomOccupancy, _Mapping]]] = ..., filters: _Optional[_Union[HotelFilters, _Mapping]] = ..., sort_order: _Optional[_Union[HotelSortOrder, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class SearchHotelsResponse(_message.Message):
    __slots__ = ("hotels", "next_page_token", "total_size")
    HOTELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    hotels: _containers.RepeatedCompositeFieldContainer[HotelResult]
    next_page_token: str
    total_size: int
    def __init__(self, hotels: _Optional[_Iterable[_Union[HotelResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class Hotel(_message.Message):
    __slots__ = ("hotel_id", "provider", "name", "city_code", "area", "stars", "guest_rating", "amenities", "location", "distance_km")
    HOTEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CITY_CODE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    STARS_FIELD_NUMBER: _ClassVar[int]
    GUEST_RATING_FIELD_NUMBER: _ClassVar[int]
    AMENITIES_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_KM_FIELD_NUMBER: _ClassVar[int]
    hotel_id: str
    provider: str
    name: str
    city_code: str
    area: str
    stars: int
    guest_rating: int
    amenities: _containers.RepeatedScalarFieldContainer[str]
    location: GeoPoint
    distance_km: float
    def __init__(self, hotel_id: _Optional[str] = ..., provider: _Optional[str] = ..., name: _Optional[str] = ..., city_code: _Optional[str] = ..., area: _Optional[str] = ..., stars: _Optional[int] = ..., guest_rating: _Optional[int] = ..., amenities: _Optional[_Iterable[str]] = ..., location: _Optional[_Union[GeoPoint, _Mapping]] = ..., distance_km: _Optional[float] = ...) -> None: ...

class HotelResult(_message.Message):
    __slots__ = ("hotel", "offers")
    HOTEL_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    hotel: Hotel
    offers: _containers.RepeatedCompositeFieldContainer[HotelOffer]
    def __init__(self, hotel: _Optional[_Union[Hotel, _Mapping]] = ..., offers: _Optional[_Iterable[_Union[HotelOffer, _Mapping]]] = ...) -> None: ...

class HotelOffer(_message.Message):
    __slots__ = ("offer_id", "hotel_id", "room_type", "room_category", "room_description", "board_type", "refundable", "cancellation_deadline", "total_price", "price_per_night", "check_in_date", "check_out_date", "nights", "rooms", "occupancy", "rate_code")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    HOTEL_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROOM_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ROOM_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BOARD_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_NIGHT_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_DATE_FIELD_NUMBER: _ClassVar[int]
    CHECK_OUT_DATE_FIELD_NUMBER: _ClassVar[int]
    NIGHTS_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    RATE_CODE_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    hotel_id: str
    room_type: str
    room_category: str
    room_description: str
    board_type: BoardType
    refundable: bool
    cancellation_deadline: _timestamp_pb2.Timestamp
    total_price: _money_pb2.Money
    price_per_night: _money_pb2.Money
    check_in_date: str
    check_out_date: str
    nights: int
    rooms: int
    occupancy: RoomOccupancy
    rate_code: str
    def __init__(self, offer_id: _Optional[str] = ..., hotel_id: _Optional[str] = ..., room_type: _Optional[str] = ..., room_category: _Optional[str] = ..., room_description: _Optional[str] = ..., board_type: _Optional[_Union[BoardType, str]] = ..., refundable: _Optional[bool] = ..., cancellation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., price_per_night: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., check_in_date: _Optional[str] = ..., check_out_date: _Optional[str] = ..., nights: _Optional[int] = ..., rooms: _Optional[int] = ..., occupancy: _Optional[_Union[RoomOccupancy, _Mapping]] = ..., rate_code: _Optional[str] = ...) -> None: ...

class GetHotelOfferRequest(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class GetHotelOfferResponse(_message.Message):
    __slots__ = ("hotel", "offer")
    HOTEL_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    hotel: Hotel
    offer: HotelOffer
    def __init__(self, hotel: _Optional[_Union[Hotel, _Mapping]] = ..., offer: _Optional[_Union[HotelOffer, _Mapping]] = ...) -> None: ...

class PriceHotelOfferRequest(_message.Message):
    __slots__ = ("offer_id", "omit_offer_id")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    OMIT_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    omit_offer_id: bool
    def __init__(self, offer_id: _Optional[str] = ..., omit_offer_id: _Optional[bool] = ...) -> None: ...

class PriceHotelOfferResponse(_message.Message):
    __slots__ = ("hotel", "offer", "price_changed", "original_total_price", "current_total_price", "available", "price_guarantee_expire_time", "provider_offer_json")
    HOTEL_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    PRICE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PRICE_GUARANTEE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_OFFER_JSON_FIELD_NUMBER: _ClassVar[int]
    hotel: Hotel
    offer: HotelOffer
    price_changed: bool
    original_total_price: _money_pb2.Money
    current_total_price: _money_pb2.Money
    available: bool
    price_guarantee_expire_time: _timestamp_pb2.Timestamp
    provider_offer_json: str
    def __init__(self, hotel: _Optional[_Union[Hotel, _Mapping]] = ..., offer: _Optional[_Union[HotelOffer, _Mapping]] = ..., price_changed: _Optional[bool] = ..., original_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., current_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., available: _Optional[bool] = ..., price_guarantee_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider_offer_json: _Optional[str] = ...) -> None: ...

class PriceItemsRequest(_message.Message):
    __slots__ = ("offer_ids", "hotel_offer_id", "omit_hotel_offer_id")
    OFFER_IDS_FIELD_NUMBER: _ClassVar[int]
    HOTEL_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    OMIT_HOTEL_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_ids: _containers.RepeatedScalarFieldContainer[str]
    hotel_offer_id: str
    omit_hotel_offer_id: bool
    def __init__(self, offer_ids: _Optional[_Iterable[str]] = ..., hotel_offer_id: _Optional[str] = ..., omit_hotel_offer_id: _Optional[bool] = ...) -> None: ...

class PriceItemsResponse(_message.Message):
    __slots__ = ("offers", "hotel")
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    HOTEL_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[PriceOfferResult]
    hotel: PriceHotelOfferResult
    def __init__(self, offers: _Optional[_Iterable[_Union[PriceOfferResult, _Mapping]]] = ..., hotel: _Optional[_Union[PriceHotelOfferResult, _Mapping]] = ...) -> None: ...

class PriceOfferResult(_message.Message):
    __slots__ = ("priced", "error")
    PRICED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    priced: PriceOfferResponse
    error: ItemError
    def __init__(self, priced: _Optional[_Union[PriceOfferResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class PriceHotelOfferResult(_message.Message):
    __slots__ = ("priced", "error")
    PRICED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    priced: PriceHotelOfferResponse
    error: ItemError
    def __init__(self, priced: _Optional[_Union[PriceHotelOfferResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...
