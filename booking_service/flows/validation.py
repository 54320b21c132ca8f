"""CreateBooking input: what the caller sent (``*Input``), checked into what the logic
uses (``ValidRequest``), every problem reported at once as a field violation.

Two passes: ``validate_request`` needs only the request (names, dates, document,
contact, offer id forms, request id); ``plan.plan_booking`` checks what needs the priced
offers (passenger types at the first departure, counts against the offers, document
expiry against the last departure). Nothing is written before both have passed.

Travel documents are a flight requirement: every passenger of a booking with flights
(offer_ids) needs one; the guests of a hotel stay alone need only their names (a
document given anyway is checked the same way, under the same field names).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date

from booking_service.pricing.checker import Amount
from booking_service.store.models import REFERENCE_PATTERN, DocumentType
from services.errors import FieldViolation, ValidationError

MAX_OFFERS = 4
MAX_PASSENGERS = 9
MAX_NAME_CHARS = 50
MAX_EMAIL_CHARS = 254
MAX_OFFER_ID_CHARS = 2048
MAX_AGE_YEARS = 130
MAX_PAYMENT_TOKEN_CHARS = 128

# Letters (any script), single spaces, hyphens or apostrophes between them.
_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DOCUMENT_NUMBER = re.compile(r"^[A-Za-z0-9]{5,20}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_REFERENCE = re.compile(REFERENCE_PATTERN)


@dataclass(frozen=True, slots=True)
class DocumentInput:
    type: str  # DocumentType value, or "" when unspecified
    number: str
    issuing_country: str
    expire_date: str


@dataclass(frozen=True, slots=True)
class PassengerInput:
    given_name: str
    family_name: str
    birth_date: str
    document: DocumentInput | None


@dataclass(frozen=True, slots=True)
class ContactInput:
    email: str
    phone: str


@dataclass(frozen=True, slots=True)
class CreateBookingInput:
    offer_ids: tuple[str, ...]
    passengers: tuple[PassengerInput, ...]
    contact: ContactInput | None
    request_id: str
    max_total: Amount | None = None
    hotel_offer_id: str = ""

    def fingerprint(self) -> str:
        """SHA-256 of the request without its request_id: a retry must match it."""
        fields = asdict(self)
        fields.pop("request_id")
        if not self.hotel_offer_id:  # as before hotel stays: old fingerprints still match
            fields.pop("hotel_offer_id")
        canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TravelDocument:
    type: DocumentType
    number: str  # upper-cased
    country: str
    expire_date: date


@dataclass(frozen=True, slots=True)
class Traveller:
    given_name: str
    family_name: str
    birth_date: date
    # Always present on a booking with flights; None for a hotel guest who gave none.
    document: TravelDocument | None


@dataclass(frozen=True, slots=True)
class ValidRequest:
    offer_ids: tuple[str, ...]
    travellers: tuple[Traveller, ...]
    email: str
    phone: str | None
    request_id: str
    request_hash: str
    max_total: Amount | None
    hotel_offer_id: str = ""


def parse_date(value: str) -> date | None:
    if not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class Violations:
    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def raise_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def _name(v: Violations, field: str, value: str) -> None:
    if not value:
        v.add(field, "is required")
    elif len(value) > MAX_NAME_CHARS:
        v.add(field, f"longer than {MAX_NAME_CHARS} characters")
    elif not _NAME.match(value):
        v.add(field, "must be letters, with single spaces, hyphens or apostrophes between them")


def _birth_date(v: Violations, field: str, value: str, today: date) -> date | None:
    born = parse_date(value)
    if not value:
        v.add(field, "is required")
    elif born is None:
        v.add(field, "must be a date YYYY-MM-DD")
    elif born > today:
        v.add(field, "is in the future")
    elif today.year - born.year > MAX_AGE_YEARS:
        v.add(field, f"is more than {MAX_AGE_YEARS} years ago")
    else:
        return born
    return None


def _document(v: Violations, field: str, d: DocumentInput, today: date) -> TravelDocument | None:
    doc_type = None
    if not d.type:
        v.add(f"{field}.type", "is required")
    elif d.type not in DocumentType.__members__:
        v.add(f"{field}.type", "is not a known document type")
    else:
        doc_type = DocumentType(d.type)
    if not d.number:
        v.add(f"{field}.number", "is required")
    elif not _DOCUMENT_NUMBER.match(d.number):
        v.add(f"{field}.number", "must be 5 to 20 letters or digits")
    if not d.issuing_country:
        v.add(f"{field}.issuing_country", "is required")
    elif not _COUNTRY.match(d.issuing_country):
        v.add(f"{field}.issuing_country", "must be an ISO 3166-1 alpha-2 code, e.g. GB")
    expires = parse_date(d.expire_date)
    if not d.expire_date:
        v.add(f"{field}.expire_date", "is required")
    elif expires is None:
        v.add(f"{field}.expire_date", "must be a date YYYY-MM-DD")
    elif expires < today:
        v.add(f"{field}.expire_date", "has expired")
    if expires is None or doc_type is None:
        return None
    return TravelDocument(doc_type, d.number.upper(), d.issuing_country, expires)


def _passenger(
    v: Violations, field: str, p: PassengerInput, today: date, *, flights: bool
) -> Traveller | None:
    """The passenger, or None if anything is wrong. ``flights``: the booking has
    flights, so a travel document is required."""
    _name(v, f"{field}.given_name", p.given_name)
    _name(v, f"{field}.family_name", p.family_name)
    born = _birth_date(v, f"{field}.birth_date", p.birth_date, today)
    document = None
    if p.document is not None:
        document = _document(v, f"{field}.document", p.document, today)
        if document is None:
            return None
    elif flights:
        v.add(f"{field}.document", "is required (a travel document, for the flights)")
        return None
    if born is None:
        return None
    return Traveller(p.given_name, p.family_name, born, document)


def _one_document_each(v: Violations, travellers: list[Traveller | None]) -> None:
    """One travel document (type, number, issuing country) is one person's: a second
    passenger with the same one is refused."""
    seen: dict[tuple[DocumentType, str, str], int] = {}
    for i, t in enumerate(travellers):
        if t is None or t.document is None:
            continue
        key = (t.document.type, t.document.number, t.document.country)
        if key in seen:
            v.add(
                f"passengers[{i}].document.number",
                f"is the document of passengers[{seen[key]}]; each passenger needs their own",
            )
        seen.setdefault(key, i)


def validate_request(
    raw: CreateBookingInput, today: date, offer_id_problem: Callable[[str], str | None]
) -> ValidRequest:
    """Raises ValidationError listing every problem the request alone shows."""
    v = Violations()
    if not raw.request_id:
        v.add("request_id", "is required (e.g. a UUID; send the same one on retries)")
    elif not _REQUEST_ID.match(raw.request_id):
        v.add("request_id", "must be 1 to 64 letters, digits, '-', '_', '.' or ':'")

    if len(raw.hotel_offer_id) > MAX_OFFER_ID_CHARS:
        v.add("hotel_offer_id", f"longer than {MAX_OFFER_ID_CHARS} characters")
    if not raw.offer_ids and not raw.hotel_offer_id:
        v.add("offer_ids", "at least one offer (or a hotel_offer_id) is required")
    elif len(raw.offer_ids) > MAX_OFFERS:
        v.add("offer_ids", f"at most {MAX_OFFERS} offers")
    seen: dict[str, int] = {}
    for i, offer_id in enumerate(raw.offer_ids):
        field = f"offer_ids[{i}]"
        if not offer_id:
            v.add(field, "is required")
        elif len(offer_id) > MAX_OFFER_ID_CHARS:
            v.add(field, f"longer than {MAX_OFFER_ID_CHARS} characters")
        elif offer_id in seen:
            v.add(field, f"repeats offer_ids[{seen[offer_id]}]")
        elif (problem := offer_id_problem(offer_id)) is not None:
            v.add(field, problem)
        seen.setdefault(offer_id, i)

    if not raw.passengers:
        v.add("passengers", "at least one passenger is required")
    elif len(raw.passengers) > MAX_PASSENGERS:
        v.add("passengers", f"at most {MAX_PASSENGERS} passengers")
    flights = bool(raw.offer_ids) or not raw.hotel_offer_id
    travellers = [
        _passenger(v, f"passengers[{i}]", p, today, flights=flights)
        for i, p in enumerate(raw.passengers)
    ]
    _one_document_each(v, travellers)

    phone: str | None = None
    if raw.contact is None:
        v.add("contact", "is required")
    else:
        if not raw.contact.email:
            v.add("contact.email", "is required")
        elif len(raw.contact.email) > MAX_EMAIL_CHARS or not _EMAIL.match(raw.contact.email):
            v.add("contact.email", "is not an email address")
        if raw.contact.phone:
            if _PHONE.match(raw.contact.phone):
                phone = raw.contact.phone
            else:
                v.add("contact.phone", "must be in E.164 form, e.g. +442071234567")

    if raw.max_total is not None:
        if not _CURRENCY.match(raw.max_total.currency):
            v.add("max_total_price.currency_code", "must be an ISO 4217 code, e.g. EUR")
        if raw.max_total.value < 0:
            v.add("max_total_price", "must not be negative")

    v.raise_any()
    return ValidRequest(
        offer_ids=raw.offer_ids,
        travellers=tuple(t for t in travellers if t is not None),
        email=raw.contact.email if raw.contact else "",
        phone=phone,
        request_id=raw.request_id,
        request_hash=raw.fingerprint(),
        max_total=raw.max_total,
        hotel_offer_id=raw.hotel_offer_id,
    )


def validate_reference(value: str, field: str = "booking_reference") -> str:
    """A booking reference, upper-cased (references are case-insensitive)."""
    if not value:
        raise ValidationError.field(field, "is required")
    reference = value.strip().upper()
    if not _REFERENCE.match(reference):
        raise ValidationError.field(
            field, "must be 6 characters from A-Z and 2-9 (no I, L, O, 0 or 1)"
        )
    return reference


def validate_payment_token(value: str) -> str:
    if not value:
        raise ValidationError.field("payment_token", "is required")
    if len(value) > MAX_PAYMENT_TOKEN_CHARS:
        raise ValidationError.field(
            "payment_token", f"longer than {MAX_PAYMENT_TOKEN_CHARS} characters"
        )
    return value
