import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from services.generated.skyroute.common.v1 import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BookingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOOKING_STATUS_UNSPECIFIED: _ClassVar[BookingStatus]
    BOOKING_STATUS_HELD: _ClassVar[BookingStatus]
    BOOKING_STATUS_CONFIRMED: _ClassVar[BookingStatus]
    BOOKING_STATUS_CANCELLED: _ClassVar[BookingStatus]
    BOOKING_STATUS_EXPIRED: _ClassVar[BookingStatus]

class PassengerType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PASSENGER_TYPE_UNSPECIFIED: _ClassVar[PassengerType]
    PASSENGER_TYPE_ADULT: _ClassVar[PassengerType]
    PASSENGER_TYPE_CHILD: _ClassVar[PassengerType]
    PASSENGER_TYPE_INFANT: _ClassVar[PassengerType]

class DocumentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_TYPE_UNSPECIFIED: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PASSPORT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_NATIONAL_ID: _ClassVar[DocumentType]

class Cabin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CABIN_UNSPECIFIED: _ClassVar[Cabin]
    CABIN_ECONOMY: _ClassVar[Cabin]
    CABIN_PREMIUM_ECONOMY: _ClassVar[Cabin]
    CABIN_BUSINESS: _ClassVar[Cabin]
    CABIN_FIRST: _ClassVar[Cabin]

class BookingKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOOKING_KIND_UNSPECIFIED: _ClassVar[BookingKind]
    BOOKING_KIND_FLIGHT: _ClassVar[BookingKind]
    BOOKING_KIND_HOTEL: _ClassVar[BookingKind]
    BOOKING_KIND_PACKAGE: _ClassVar[BookingKind]

class PackageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_STATE_UNSPECIFIED: _ClassVar[PackageState]
    PACKAGE_STATE_HELD: _ClassVar[PackageState]
    PACKAGE_STATE_CONFIRMING: _ClassVar[PackageState]
    PACKAGE_STATE_COMPENSATING: _ClassVar[PackageState]
    PACKAGE_STATE_CONFIRMED: _ClassVar[PackageState]
    PACKAGE_STATE_FAILED: _ClassVar[PackageState]
BOOKING_STATUS_UNSPECIFIED: BookingStatus
BOOKING_STATUS_HELD: BookingStatus
BOOKING_STATUS_CONFIRMED: BookingStatus
BOOKING_STATUS_CANCELLED: BookingStatus
BOOKING_STATUS_EXPIRED: BookingStatus
PASSENGER_TYPE_UNSPECIFIED: PassengerType
PASSENGER_TYPE_ADULT: PassengerType
PASSENGER_TYPE_CHILD: PassengerType
PASSENGER_TYPE_INFANT: PassengerType
DOCUMENT_TYPE_UNSPECIFIED: DocumentType
DOCUMENT_TYPE_PASSPORT: DocumentType
DOCUMENT_TYPE_NATIONAL_ID: DocumentType
CABIN_UNSPECIFIED: Cabin
CABIN_ECONOMY: Cabin
CABIN_PREMIUM_ECONOMY: Cabin
CABIN_BUSINESS: Cabin
CABIN_FIRST: Cabin
BOOKING_KIND_UNSPECIFIED: BookingKind
BOOKING_KIND_FLIGHT: BookingKind
BOOKING_KIND_HOTEL: BookingKind
BOOKING_KIND_PACKAGE: BookingKind
PACKAGE_STATE_UNSPECIFIED: PackageState
PACKAGE_STATE_HELD: PackageState
PACKAGE_STATE_CONFIRMING: PackageState
PACKAGE_STATE_COMPENSATING: PackageState
PACKAGE_STATE_CONFIRMED: PackageState
PACKAGE_STATE_FAILED: PackageState

class TravelDocument(_message.Message):
    __slots__ = ("type", "number", "issuing_country", "expire_date")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUING_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_DATE_FIELD_NUMBER: _ClassVar[int]
    type: DocumentType
    number: str
    issuing_country: str
    expire_date: str
    def __init__(self, type: _Optional[_Union[DocumentType, str]] = ..., number: _Optional[str] = ..., issuing_country: _Optional[str] = ..., expire_date: _Optional[str] = ...) -> None: ...

class Passenger(_message.Message):
    __slots__ = ("given_name", "family_name", "birth_date", "document", "type", "ticket_number")
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TICKET_NUMBER_FIELD_NUMBER: _ClassVar[int]
    given_name: str
    family_name: str
    birth_date: str
    document: TravelDocument
    type: PassengerType
    ticket_number: str
    def __init__(self, given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ..., document: _Optional[_Union[TravelDocument, _Mapping]] = ..., type: _Optional[_Union[PassengerType, str]] = ..., ticket_number: _Optional[str] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("email", "phone")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class BookedSegment(_message.Message):
    __slots__ = ("fare_id", "flight_designator", "origin", "destination", "departure_time", "arrival_time", "cabin", "seats", "price", "refundable", "change_fee", "departure_local_time", "arrival_local_time")
    FARE_ID_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_DESIGNATOR_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_TIME_FIELD_NUMBER: _ClassVar[int]
    CABIN_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FEE_FIELD_NUMBER: _ClassVar[int]
    DEPARTURE_LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    fare_id: int
    flight_designator: str
    origin: str
    destination: str
    departure_time: _timestamp_pb2.Timestamp
    arrival_time: _timestamp_pb2.Timestamp
    cabin: Cabin
    seats: int
    price: _money_pb2.Money
    refundable: bool
    change_fee: _money_pb2.Money
    departure_local_time: str
    arrival_local_time: str
    def __init__(self, fare_id: _Optional[int] = ..., flight_designator: _Optional[str] = ..., origin: _Optional[str] = ..., destination: _Optional[str] = ..., departure_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., arrival_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cabin: _Optional[_Union[Cabin, str]] = ..., seats: _Optional[int] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refundable: _Optional[bool] = ..., change_fee: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., departure_local_time: _Optional[str] = ..., arrival_local_time: _Optional[str] = ...) -> None: ...

class BookedOffer(_message.Message):
    __slots__ = ("offer_id", "total_price", "segments")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    total_price: _money_pb2.Money
    segments: _containers.RepeatedCompositeFieldContainer[BookedSegment]
    def __init__(self, offer_id: _Optional[str] = ..., total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[BookedSegment, _Mapping]]] = ...) -> None: ...

class Booking(_message.Message):
    __slots__ = ("booking_reference", "status", "offers", "passengers", "contact", "total_price", "hold_expire_time", "create_time", "update_time", "confirm_time", "cancel_time", "refund_amount", "payment_reference", "request_id", "provider", "provider_record_locator", "kind", "hotel_stays", "item_refunds", "package_state", "failure_reason")
    BOOKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    PASSENGERS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    REFUND_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_RECORD_LOCATOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HOTEL_STAYS_FIELD_NUMBER: _ClassVar[int]
    ITEM_REFUNDS_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    booking_reference: str
    status: BookingStatus
    offers: _containers.RepeatedCompositeFieldContainer[BookedOffer]
    passengers: _containers.RepeatedCompositeFieldContainer[Passenger]
    contact: Contact
    total_price: _money_pb2.Money
    hold_expire_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    confirm_time: _timestamp_pb2.Timestamp
    cancel_time: _timestamp_pb2.Timestamp
    refund_amount: _money_pb2.Money
    payment_reference: str
    request_id: str
    provider: str
    provider_record_locator: str
    kind: BookingKind
    hotel_stays: _containers.RepeatedCompositeFieldContainer[BookedHotelStay]
    item_refunds: _containers.RepeatedCompositeFieldContainer[ItemRefund]
    package_state: PackageState
    failure_reason: str
    def __init__(self, booking_reference: _Optional[str] = ..., status: _Optional[_Union[BookingStatus, str]] = ..., offers: _Optional[_Iterable[_Union[BookedOffer, _Mapping]]] = ..., passengers: _Optional[_Iterable[_Union[Passenger, _Mapping]]] = ..., contact: _Optional[_Union[Contact, _Mapping]] = ..., total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., hold_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confirm_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refund_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., payment_reference: _Optional[str] = ..., request_id: _Optional[str] = ..., provider: _Optional[str] = ..., provider_record_locator: _Optional[str] = ..., kind: _Optional[_Union[BookingKind, str]] = ..., hotel_stays: _Optional[_Iterable[_Union[BookedHotelStay, _Mapping]]] = ..., item_refunds: _Optional[_Iterable[_Union[ItemRefund, _Mapping]]] = ..., package_state: _Optional[_Union[PackageState, str]] = ..., failure_reason: _Optional[str] = ...) -> None: ...

class BookedHotelStay(_message.Message):
    __slots__ = ("offer_id", "provider", "hotel_id", "hotel_name", "city_code", "room_type", "room_description", "board_type", "check_in_date", "check_out_date", "rooms", "price", "refundable", "cancellation_deadline", "confirmation_number")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    HOTEL_ID_FIELD_NUMBER: _ClassVar[int]
    HOTEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CITY_CODE_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROOM_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BOARD_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_DATE_FIELD_NUMBER: _ClassVar[int]
    CHECK_OUT_DATE_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REFUNDABLE_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    provider: str
    hotel_id: str
    hotel_name: str
    city_code: str
    room_type: str
    room_description: str
    board_type: str
    check_in_date: str
    check_out_date: str
    rooms: int
    price: _money_pb2.Money
    refundable: bool
    cancellation_deadline: _timestamp_pb2.Timestamp
    confirmation_number: str
    def __init__(self, offer_id: _Optional[str] = ..., provider: _Optional[str] = ..., hotel_id: _Optional[str] = ..., hotel_name: _Optional[str] = ..., city_code: _Optional[str] = ..., room_type: _Optional[str] = ..., room_description: _Optional[str] = ..., board_type: _Optional[str] = ..., check_in_date: _Optional[str] = ..., check_out_date: _Optional[str] = ..., rooms: _Optional[int] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refundable: _Optional[bool] = ..., cancellation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confirmation_number: _Optional[str] = ...) -> None: ...

class ItemRefund(_message.Message):
    __slots__ = ("item", "amount")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    item: str
    amount: _money_pb2.Money
    def __init__(self, item: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ItineraryLink(_message.Message):
    __slots__ = ("download_token", "expire_time", "max_uses")
    DOWNLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    download_token: str
    expire_time: _timestamp_pb2.Timestamp
    max_uses: int
    def __init__(self, download_token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_uses: _Optional[int] = ...) -> None: ...

class CreateBookingRequest(_message.Message):
    __slots__ = ("offer_ids", "passengers", "contact", "request_id", "max_total_price", "hotel_offer_id")
    OFFER_IDS_FIELD_NUMBER: _ClassVar[int]
    PASSENGERS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    HOTEL_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_ids: _containers.RepeatedScalarFieldContainer[str]
    passengers: _containers.RepeatedCompositeFieldContainer[Passenger]
    contact: Contact
    request_id: str
    max_total_price: _money_pb2.Money
    hotel_offer_id: str
    def __init__(self, offer_ids: _Optional[_Iterable[str]] = ..., passengers: _Optional[_Iterable[_Union[Passenger, _Mapping]]] = ..., contact: _Optional[_Union[Contact, _Mapping]] = ..., request_id: _Optional[str] = ..., max_total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., hotel_offer_id: _Optional[str] = ...) -> None: ...

class CreateBookingResponse(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: Booking
    def __init__(self, booking: _Optional[_Union[Booking, _Mapping]] = ...) -> None: ...

class ConfirmBookingRequest(_message.Message):
    __slots__ = ("booking_reference", "payment_token")
    BOOKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    booking_reference: str
    payment_token: str
    def __init__(self, booking_reference: _Optional[str] = ..., payment_token: _Optional[str] = ...) -> None: ...

class ConfirmBookingResponse(_message.Message):
    __slots__ = ("booking", "itinerary_link")
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    ITINERARY_LINK_FIELD_NUMBER: _ClassVar[int]
    booking: Booking
    itinerary_link: ItineraryLink
    def __init__(self, booking: _Optional[_Union[Booking, _Mapping]] = ..., itinerary_link: _Optional[_Union[ItineraryLink, _Mapping]] = ...) -> None: ...

class GetBookingRequest(_message.Message):
    __slots__ = ("booking_reference",)
    BOOKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    booking_reference: str
    def __init__(self, booking_reference: _Optional[str] = ...) -> None: ...

class GetBookingResponse(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: Booking
    def __init__(self, booking: _Optional[_Union[Booking, _Mapping]] = ...) -> None: ...

class ListBookingsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: BookingStatus
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[BookingStatus, str]] = ...) -> None: ...

class ListBookingsResponse(_message.Message):
    __slots__ = ("bookings", "next_page_token")
    BOOKINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bookings: _containers.RepeatedCompositeFieldContainer[Booking]
    next_page_token: str
    def __init__(self, bookings: _Optional[_Iterable[_Union[Booking, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelBookingRequest(_message.Message):
    __slots__ = ("booking_reference",)
    BOOKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    booking_reference: str
    def __init__(self, booking_reference: _Optional[str] = ...) -> None: ...

class CancelBookingResponse(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: Booking
    def __init__(self, booking: _Optional[_Union[Booking, _Mapping]] = ...) -> None: ...

class IssueItineraryLinkRequest(_message.Message):
    __slots__ = ("booking_reference",)
    BOOKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    booking_reference: str
    def __init__(self, booking_reference: _Optional[str] = ...) -> None: ...

class IssueItineraryLinkResponse(_message.Message):
    __slots__ = ("itinerary_link",)
    ITINERARY_LINK_FIELD_NUMBER: _ClassVar[int]
    itinerary_link: ItineraryLink
    def __init__(self, itinerary_link: _Optional[_Union[ItineraryLink, _Mapping]] = ...) -> None: ...

class GetItineraryRequest(_message.Message):
    __slots__ = ("download_token",)
    DOWNLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    download_token: str
    def __init__(self, download_token: _Optional[str] = ...) -> None: ...

class GetItineraryResponse(_message.Message):
    __slots__ = ("booking_reference", "itinerary_json", "itinerary_text", "remaining_uses")
    BOOKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ITINERARY_JSON_FIELD_NUMBER: _ClassVar[int]
    ITINERARY_TEXT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_USES_FIELD_NUMBER: _ClassVar[int]
    booking_reference: str
    itinerary_json: str
    itinerary_text: str
    remaining_uses: int
    def __init__(self, booking_reference: _Optional[str] = ..., itinerary_json: _Optional[str] = ..., itinerary_text: _Optional[str] = ..., remaining_uses: _Optional[int] = ...) -> None: ...
