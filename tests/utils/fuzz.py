"""Hypothesis strategies for hostile protobuf requests, built from the generated
descriptors (so a new RPC or field is fuzzed without changes here), and the RPCs of our
services discovered the same way.

A request is either generated from nothing (every field may be set, to anything its
wire type allows) or a valid seed request with a few fields replaced by hostile values,
which gets past the first checks and into the logic and the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from services.generated.skyroute.booking.v1 import booking_service_pb2
from services.generated.skyroute.search.v1 import search_service_pb2
from services.generated.skyroute.token.v1 import token_service_pb2

SERVICE_MODULES = (token_service_pb2, search_service_pb2, booking_service_pb2)

MEGABYTE = "x" * 1_000_000
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 64,
    "\x1b[31mred\x1b[0m",
    "\x1b]0;title\x07",
    "line\r\nInjected: yes",
    "\t",
    "\x7f",
    "\x85",
    "\x9f",
    "\u202eevil",
    "\u200b",
    "\ufeff",
    "\ufffd",
    "Rene\u0301",
    "\u0130stanbul",
    "\U0001f600" * 20,
    "\U0010ffff",
    "%s%n%x",
    "' OR 1=1 --",
    "\\",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "null",
    "-1",
    "9" * 400,
    "A" * 65,
    "A" * 10_000,
    MEGABYTE,
    "\x00" + MEGABYTE,
    "2030-02-30",
    "0000-00-00",
    "9999-12-31",
    "25:61",
    "LHR",
    "JFK",
    "amadeus",
    "tok_visa",
]
INT32 = [0, 1, -1, 2, 100, 2**31 - 1, -(2**31)]
INT64 = [*INT32, 2**53, 2**63 - 1, -(2**63)]
UINT32 = [0, 1, 2**31, 2**32 - 1]
UINT64 = [*UINT32, 2**63, 2**64 - 1]
# Timestamp / Duration seconds beyond what they may hold, and nanos of the wrong sign
# or size.
ODD_SECONDS = [
    0,
    1,
    -1,
    86_400,
    -62_135_596_801,
    253_402_300_800,
    315_576_000_001,
    2**63 - 1,
    -(2**63),
]
ODD_NANOS = [0, 1, -1, 999_999_999, 1_000_000_000, -1_000_000_000, 2**31 - 1, -(2**31)]
MAX_DEPTH = 4

_T = FieldDescriptor


@dataclass(frozen=True)
class Rpc:
    service: str  # full name, e.g. skyroute.token.v1.TokenService
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def request_class(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    def __str__(self) -> str:
        return self.path


def all_rpcs() -> list[Rpc]:
    out = []
    for module in SERVICE_MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            out.extend(Rpc(service.full_name, m) for m in service.methods)
    return out


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t == _T.TYPE_STRING:
        return hostile_text()
    if t == _T.TYPE_BYTES:
        return st.one_of(st.binary(max_size=40), st.just(b"\x00" * 1_000_000))
    if t == _T.TYPE_BOOL:
        return st.booleans()
    if t in (_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32):
        return st.one_of(st.sampled_from(INT32), st.integers(-(2**31), 2**31 - 1))
    if t in (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64):
        return st.one_of(st.sampled_from(INT64), st.integers(-(2**63), 2**63 - 1))
    if t in (_T.TYPE_UINT32, _T.TYPE_FIXED32):
        return st.one_of(st.sampled_from(UINT32), st.integers(0, 2**32 - 1))
    if t in (_T.TYPE_UINT64, _T.TYPE_FIXED64):
        return st.one_of(st.sampled_from(UINT64), st.integers(0, 2**64 - 1))
    if t == _T.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if t == _T.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if t == _T.TYPE_ENUM:
        # proto3 enums are open: numbers no value has arrive as they are.
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.sampled_from([-1, 99, 2**31 - 1]))
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def _time_like(descriptor: Descriptor) -> st.SearchStrategy[Message]:
    cls = GetMessageClass(descriptor)
    return st.builds(
        lambda s, n: cls(seconds=s, nanos=n),
        st.one_of(st.sampled_from(ODD_SECONDS), st.integers(-(2**40), 2**40)),
        st.sampled_from(ODD_NANOS),
    )


def message_value(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: each field set or not, to hostile values."""
    if descriptor.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        return _time_like(descriptor)
    cls = GetMessageClass(descriptor)
    if depth >= MAX_DEPTH:
        return st.just(cls())

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for field in descriptor.fields:
            if draw(st.booleans()):
                _assign(message, field, draw(field_value(field, depth + 1)))
        return message

    return build()


def field_value(field: FieldDescriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for ``field``: a list for repeated fields (sometimes a long one)."""
    if field.type == _T.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        key = _scalar(field.message_type.fields_by_name["key"])
        value_field = field.message_type.fields_by_name["value"]
        return st.dictionaries(key, field_value(value_field, depth + 1), max_size=3)
    one = (
        message_value(field.message_type, depth)
        if field.type == _T.TYPE_MESSAGE
        else _scalar(field)
    )
    if not field.is_repeated:
        return one
    # Long lists of small values (5,000 offer ids); long lists of 1 MB values would
    # only test the transport's size limit, slowly.
    return st.one_of(
        st.lists(one, max_size=4), st.builds(_repeat, one, st.sampled_from([100, 5000]))
    )


def _repeat(value: Any, times: int) -> list[Any]:
    """``times`` copies of a small value, 2 of a large one. A message counts by its
    encoded size: a message that holds 5,000 of something, repeated 5,000 times (and
    again one level up), would be gigabytes in this process before any server saw it."""
    if isinstance(value, Message):
        size = value.ByteSize()
    elif isinstance(value, str | bytes):
        size = len(value)
    else:
        size = 0
    return [value] * (times if size <= 1000 else 2)


def _assign(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    if field.type == _T.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        target.clear()
        for k, v in value.items():
            if field.message_type.fields_by_name["value"].type == _T.TYPE_MESSAGE:
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif field.is_repeated:
        del target[:]
        target.extend(value)
    elif field.type == _T.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


def _leaves(
    descriptor: Descriptor, prefix: tuple[FieldDescriptor, ...] = (), depth: int = 0
) -> list[tuple[FieldDescriptor, ...]]:
    """Paths to every field, descending into singular message fields."""
    out = []
    for field in descriptor.fields:
        path = (*prefix, field)
        out.append(path)
        if (
            field.type == _T.TYPE_MESSAGE
            and not field.is_repeated
            and depth < MAX_DEPTH
            and field.message_type.full_name
            not in ("google.protobuf.Timestamp", "google.protobuf.Duration")
        ):
            out.extend(_leaves(field.message_type, path, depth + 1))
    return out


def mutated(seed: Message) -> st.SearchStrategy[Message]:
    """``seed`` with one to three fields (at any depth) replaced by hostile values."""
    leaves = _leaves(seed.DESCRIPTOR)
    if not leaves:  # a request without fields (ListProviders): nothing to mutate
        return st.just(seed)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = type(seed)()
        message.CopyFrom(seed)
        paths = draw(
            st.lists(
                st.sampled_from(leaves),
                min_size=1,
                max_size=3,
                unique_by=lambda p: tuple(f.full_name for f in p),
            )
        )
        for path in paths:
            owner = message
            for step in path[:-1]:
                owner = getattr(owner, step.name)
            _assign(owner, path[-1], draw(field_value(path[-1], len(path))))
        return message

    return build()


class Shown:
    """A request whose repr (in a failure report) is cut short: 1 MB values would
    drown the report."""

    def __init__(self, message: Message) -> None:
        self.message = message

    def __repr__(self) -> str:
        text = repr(self.message)
        return text if len(text) <= 2000 else f"{text[:2000]}... ({len(text)} chars)"


def requests(rpc: Rpc, seeds: Sequence[Message]) -> st.SearchStrategy[Shown]:
    """Hostile requests for ``rpc``: mutated seeds when there are any, and requests
    generated from the descriptor alone."""
    generated = message_value(rpc.method.input_type)
    if not seeds:
        return st.one_of(st.just(rpc.request_class()), generated).map(Shown)
    # The seed itself now and then: it gets through, and holds seats, cancels...
    return st.one_of(*(mutated(s) for s in seeds), st.sampled_from(seeds), generated).map(Shown)


UNDECODABLE_BODIES = [
    b"\xff",  # a tag with no end
    b"\xff" * 16,
    b"\x0a\xff\xff\xff\xff\x0f",  # field 1, length 4 GiB
    b"\x0a\x05ab",  # field 1, length past the end
    b"\x0a\x02\xc3\x28",  # field 1 as a string: invalid UTF-8
    b"\x07",  # wire type 7 does not exist
    b"\x00",  # field number 0
    b"\x0b",  # start group, never ended
]
