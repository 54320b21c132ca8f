import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from services.generated.skyroute.common.v1 import money_pb2 as _money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as _search_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrackerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACKER_STATE_UNSPECIFIED: _ClassVar[TrackerState]
    TRACKER_STATE_ACTIVE: _ClassVar[TrackerState]
    TRACKER_STATE_PAUSED: _ClassVar[TrackerState]
    TRACKER_STATE_ENDED: _ClassVar[TrackerState]

class AlertKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_KIND_UNSPECIFIED: _ClassVar[AlertKind]
    ALERT_KIND_PRICE_DROP: _ClassVar[AlertKind]
    ALERT_KIND_BELOW_TARGET: _ClassVar[AlertKind]
    ALERT_KIND_BACK_IN_STOCK: _ClassVar[AlertKind]
TRACKER_STATE_UNSPECIFIED: TrackerState
TRACKER_STATE_ACTIVE: TrackerState
TRACKER_STATE_PAUSED: TrackerState
TRACKER_STATE_ENDED: TrackerState
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_PRICE_DROP: AlertKind
ALERT_KIND_BELOW_TARGET: AlertKind
ALERT_KIND_BACK_IN_STOCK: AlertKind

class FlightSearch(_message.Message):
    __slots__ = ("origin", "destination", "departure_date", "return_date", "passengers", "cabin", "max_stops")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_DATE_FIELD_NUMBER: _ClassVar[int]
    RETURN_DATE_FIELD_NUMBER: _ClassVar[int]
    PASSENGERS_FIELD_NUMBER: _ClassVar[int]
    CABIN_FIELD_NUMBER: _ClassVar[int]
    MAX_STOPS_FIELD_NUMBER: _ClassVar[int]
    origin: str
    destination: str
    departure_date: str
    return_date: str
    passengers: _search_service_pb2.Passengers
    cabin: _search_service_pb2.Cabin
    max_stops: int
    def __init__(self, origin: _Optional[str] = ..., destination: _Optional[str] = ..., departure_date: _Optional[str] = ..., return_date: _Optional[str] = ..., passengers: _Optional[_Union[_search_service_pb2.Passengers, _Mapping]] = ..., cabin: _Optional[_Union[_search_service_pb2.Cabin, str]] = ..., max_stops: _Optional[int] = ...) -> None: ...

class HotelSearch(_message.Message):
    __slots__ = ("destination", "hotel_id", "check_in_date", "check_out_date", "rooms", "filters")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    HOTEL_ID_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_DATE_FIELD_NUMBER: _ClassVar[int]
    CHECK_OUT_DATE_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    destination: _search_service_pb2.HotelDestination
    hotel_id: str
    check_in_date: str
    check_out_date: str
    rooms: _containers.RepeatedCompositeFieldContainer[_search_service_pb2.RoomOccupancy]
    filters: HotelTrackerFilters
    def __init__(self, destination: _Optional[_Union[_search_service_pb2.HotelDestination, _Mapping]] = ..., hotel_id: _Optional[str] = ..., check_in_date: _Optional[str] = ..., check_out_date: _Optional[str] = ..., rooms: _Optional[_Iterable[_Union[_search_service_pb2.RoomOccupancy, _Mapping]]] = ..., filters: _Optional[_Union[HotelTrackerFilters, _Mapping]] = ...) -> None: ...

class HotelTrackerFilters(_message.Message):
    __slots__ = ("min_stars", "board_types", "refundable_only")
    MIN_STARS_FIELD_NUMBER: _ClassVar[int]
    BOARD_TYPES_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    min_stars: int
    board_types: _containers.RepeatedScalarFieldContainer[_search_service_pb2.BoardType]
    refundable_only: bool
    def __init__(self, min_stars: _Optional[int] = ..., board_types: _Optional[_Iterable[_Union[_search_service_pb2.BoardType, str]]] = ..., refundable_only: _Optional[bool] = ...) -> None: ...

class HotelOfferSummary(_message.Message):
    __slots__ = ("hotel_id", "hotel_name", "room_type", "room_description", "board_type", "refundable")
    HOTEL_ID_FIELD_NUMBER: _ClassVar[int]
    HOTEL_NAME_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROOM_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BOARD_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_FIELD_NUMBER: _ClassVar[int]
    hotel_id: str
    hotel_name: str
    room_type: str
    room_description: str
    board_type: _search_service_pb2.BoardType
    refundable: bool
    def __init__(self, hotel_id: _Optional[str] = ..., hotel_name: _Optional[str] = ..., room_type: _Optional[str] = ..., room_description: _Optional[str] = ..., board_type: _Optional[_Union[_search_service_pb2.BoardType, str]] = ..., refundable: _Optional[bool] = ...) -> None: ...

class Triggers(_message.Message):
    __slots__ = ("drop_percent", "target_price", "back_in_stock")
    DROP_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PRICE_FIELD_NUMBER: _ClassVar[int]
    BACK_IN_STOCK_FIELD_NUMBER: _ClassVar[int]
    drop_percent: float
    target_price: _money_pb2.Money
    back_in_stock: bool
    def __init__(self, drop_percent: _Optional[float] = ..., target_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., back_in_stock: _Optional[bool] = ...) -> None: ...

class PriceObservation(_message.Message):
    __slots__ = ("period_start_time", "start_time", "finish_time", "lowest_price", "best_offer_id", "offers_found", "best_hotel_offer")
    PERIOD_START_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    LOWEST_PRICE_FIELD_NUMBER: _ClassVar[int]
    BEST_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FOUND_FIELD_NUMBER: _ClassVar[int]
    BEST_HOTEL_OFFER_FIELD_NUMBER: _ClassVar[int]
    period_start_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    lowest_price: _money_pb2.Money
    best_offer_id: str
    offers_found: int
    best_hotel_offer: HotelOfferSummary
    def __init__(self, period_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lowest_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., best_offer_id: _Optional[str] = ..., offers_found: _Optional[int] = ..., best_hotel_offer: _Optional[_Union[HotelOfferSummary, _Mapping]] = ...) -> None: ...

class Tracker(_message.Message):
    __slots__ = ("tracker_id", "flight", "hotel", "frequency", "triggers", "state", "next_run_time", "end_time", "latest", "create_time", "update_time")
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_FIELD_NUMBER: _ClassVar[int]
    HOTEL_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tracker_id: str
    flight: FlightSearch
    hotel: HotelSearch
    frequency: _duration_pb2.Duration
    triggers: Triggers
    state: TrackerState
    next_run_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    latest: PriceObservation
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, tracker_id: _Optional[str] = ..., flight: _Optional[_Union[FlightSearch, _Mapping]] = ..., hotel: _Optional[_Union[HotelSearch, _Mapping]] = ..., frequency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., triggers: _Optional[_Union[Triggers, _Mapping]] = ..., state: _Optional[_Union[TrackerState, str]] = ..., next_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest: _Optional[_Union[PriceObservation, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTrackerRequest(_message.Message):
    __slots__ = ("tracker", "first_run_time", "request_id")
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    FIRST_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tracker: Tracker
    first_run_time: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, tracker: _Optional[_Union[Tracker, _Mapping]] = ..., first_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTrackerResponse(_message.Message):
    __slots__ = ("tracker",)
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    tracker: Tracker
    def __init__(self, tracker: _Optional[_Union[Tracker, _Mapping]] = ...) -> None: ...

class GetTrackerRequest(_message.Message):
    __slots__ = ("tracker_id",)
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    tracker_id: str
    def __init__(self, tracker_id: _Optional[str] = ...) -> None: ...

class GetTrackerResponse(_message.Message):
    __slots__ = ("tracker",)
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    tracker: Tracker
    def __init__(self, tracker: _Optional[_Union[Tracker, _Mapping]] = ...) -> None: ...

class ListTrackersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrackersResponse(_message.Message):
    __slots__ = ("trackers", "next_page_token")
    TRACKERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trackers: _containers.RepeatedCompositeFieldContainer[Tracker]
    next_page_token: str
    def __init__(self, trackers: _Optional[_Iterable[_Union[Tracker, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTrackerRequest(_message.Message):
    __slots__ = ("tracker", "update_mask")
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    tracker: Tracker
    update_mask: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tracker: _Optional[_Union[Tracker, _Mapping]] = ..., update_mask: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateTrackerResponse(_message.Message):
    __slots__ = ("tracker",)
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    tracker: Tracker
    def __init__(self, tracker: _Optional[_Union[Tracker, _Mapping]] = ...) -> None: ...

class PauseTrackerRequest(_message.Message):
    __slots__ = ("tracker_id", "paused")
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    tracker_id: str
    paused: bool
    def __init__(self, tracker_id: _Optional[str] = ..., paused: _Optional[bool] = ...) -> None: ...

class PauseTrackerResponse(_message.Message):
    __slots__ = ("tracker",)
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    tracker: Tracker
    def __init__(self, tracker: _Optional[_Union[Tracker, _Mapping]] = ...) -> None: ...

class DeleteTrackerRequest(_message.Message):
    __slots__ = ("tracker_id",)
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    tracker_id: str
    def __init__(self, tracker_id: _Optional[str] = ...) -> None: ...

class DeleteTrackerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPriceHistoryRequest(_message.Message):
    __slots__ = ("tracker_id", "page_size", "page_token")
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tracker_id: str
    page_size: int
    page_token: str
    def __init__(self, tracker_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPriceHistoryResponse(_message.Message):
    __slots__ = ("observations", "next_page_token")
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedCompositeFieldContainer[PriceObservation]
    next_page_token: str
    def __init__(self, observations: _Optional[_Iterable[_Union[PriceObservation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "tracker_id", "kind", "price", "reference_price", "best_offer_id", "period_start_time", "create_time", "acknowledge_time", "best_hotel_offer")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PRICE_FIELD_NUMBER: _ClassVar[int]
    BEST_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGE_TIME_FIELD_NUMBER: _ClassVar[int]
    BEST_HOTEL_OFFER_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    tracker_id: str
    kind: AlertKind
    price: _money_pb2.Money
    reference_price: _money_pb2.Money
    best_offer_id: str
    period_start_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    acknowledge_time: _timestamp_pb2.Timestamp
    best_hotel_offer: HotelOfferSummary
    def __init__(self, alert_id: _Optional[str] = ..., tracker_id: _Optional[str] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reference_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., best_offer_id: _Optional[str] = ..., period_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., best_hotel_offer: _Optional[_Union[HotelOfferSummary, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "unacknowledged_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNACKNOWLEDGED_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    unacknowledged_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., unacknowledged_only: _Optional[bool] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("after_alert_id",)
    AFTER_ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    after_alert_id: str
    def __init__(self, after_alert_id: _Optional[str] = ...) -> None: ...

class WatchAlertsResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...
