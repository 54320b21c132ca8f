"""What the search pricers (from_search.py: flight offers, hotels.py: hotel offers)
share: the service, its money, and a search failure as their error translations read
it, whether a call failed (PriceOffer, PriceHotelOffer) or one item of a PriceItems call
did (its ``ItemError``, the status the item's own call would have failed with)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from booking_service.pricing.passengers import CENT
from services.context import REQUEST_ID_HEADER, current_request_id, new_request_id
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

SERVICE = "skyroute.search.v1.SearchService"

_CODES = {code.value[0]: code for code in grpc.StatusCode}


def decimal(value: money_pb2.Money) -> Decimal:
    """To the cent, as the inventory stores money (NUMERIC(12, 2))."""
    return (Decimal(value.units) + Decimal(value.nanos).scaleb(-9)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def request_metadata() -> tuple[tuple[str, str]]:
    """The request id the booking call runs under, for search's logs."""
    return ((REQUEST_ID_HEADER, current_request_id() or new_request_id()),)


def _reason(details: Iterable[any_pb2.Any]) -> str:
    for detail in details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


@dataclass(frozen=True, slots=True)
class SearchFailure:
    code: grpc.StatusCode
    message: str
    reason: str  # the ErrorInfo's, "" without one

    @classmethod
    def of_call(cls, exc: grpc.aio.AioRpcError) -> SearchFailure:
        try:
            status = rpc_status.from_call(exc)
        except ValueError:
            status = None
        reason = "" if status is None else _reason(status.details)
        return cls(exc.code(), exc.details() or "", reason)

    @classmethod
    def of_item(cls, error: pb.ItemError) -> SearchFailure:
        # A code this client does not know reads as UNKNOWN, as grpc reads a call's.
        code = _CODES.get(error.code, grpc.StatusCode.UNKNOWN)
        return cls(code, error.message, _reason(error.details))
