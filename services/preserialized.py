"""Responses a servicer serialized itself: sent as they are.

A servicer that answers the same response many times (a cached search page) keeps its
bytes and returns them wrapped in ``Serialized``; the server's interceptor
(services/interceptors.py) gives every method a response serializer that passes a
``Serialized`` through and serializes anything else as the generated code would. So
such an answer costs neither building the message again nor serializing it again.
The bytes must be a serialization of the method's response message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Serialized:
    """A response message, already serialized (not a bytes subclass: grpc sends exactly
    ``bytes``)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def passing_serialized(
    serializer: Callable[[Any], bytes] | None,
) -> Callable[[Any], bytes] | None:
    """``serializer``, except that a ``Serialized`` response is returned as is."""
    if serializer is None:
        return None

    def serialize(response: Any) -> bytes:
        if type(response) is Serialized:
            return response.data
        return serializer(response)

    return serialize
