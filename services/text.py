"""One rule for text that enters from a request or a token.

Every string is NFC-normalised (so ``Rene`` + U+0301 and ``René`` are the same name to
every later check) and must not contain a C0 or C1 control character (U+0000-U+001F,
U+007F-U+009F): NUL cannot be stored in PostgreSQL text, and the others (CR, LF, ESC
sequences...) forge log lines and terminal output. No request field of ours is free
text where a newline or tab would be legitimate, so the rule has no exceptions.

``check_request`` applies the rule to a whole protobuf request, in place; the server
interceptor applies it once per call (through ``KnownClean``, which skips a request
whose bytes already passed unchanged), after authentication and before the servicer, so
every RPC of every service gets it. Bytes fields are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import EncodeError, Message

from services.errors import FieldViolation, ValidationError

CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_DESCRIPTION = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"
# Map keys are named in the field path only when short and clean.
MAX_KEY_IN_PATH = 64

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def has_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def nfc(text: str) -> str:
    """``text`` in Unicode normalisation form C (ASCII is returned as is, cheaply)."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def check_request(message: Message) -> None:
    """NFC-normalises every string field of ``message`` (nested messages, repeated and
    map fields) in place; raises ValidationError naming each field (full path, e.g.
    ``passengers[1].given_name``) that holds a control character."""
    violations: list[FieldViolation] = []
    _walk(message, "", violations)
    if violations:
        raise ValidationError(violations)


# Requests that passed the rule unchanged, remembered by type and serialized bytes.
KNOWN_CLEAN_ENTRIES = 1024
KNOWN_CLEAN_MAX_BYTES = 512


class KnownClean:
    """``check_request`` for requests that repeat (a popular search, the same bytes
    many times a second): a request whose bytes already passed the rule unchanged
    passes again unchanged (the same bytes parse to the same strings), so it is not
    walked again. A request the rule changed (NFC) or refused is not remembered: it is
    walked, and normalised or refused, every time."""

    def __init__(
        self, entries: int = KNOWN_CLEAN_ENTRIES, max_bytes: int = KNOWN_CLEAN_MAX_BYTES
    ) -> None:
        self._known: dict[tuple[type[Message], bytes], None] = {}
        self._entries = entries
        self._max_bytes = max_bytes

    def check(self, message: Message) -> None:
        try:
            data = message.SerializeToString()
        except EncodeError:  # a proto2 message missing a required field
            check_request(message)
            return
        key = (type(message), data)
        if key in self._known:
            return
        check_request(message)
        if len(data) <= self._max_bytes and message.SerializeToString() == data:
            if len(self._known) >= self._entries:
                self._known.clear()
            self._known[key] = None


def _walk(message: Message, prefix: str, out: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.type == _MESSAGE:
            if field.message_type.GetOptions().map_entry:
                _walk_map(field, value, path, out)
            elif field.is_repeated:
                for i, item in enumerate(value):
                    _walk(item, f"{path}[{i}].", out)
            else:
                _walk(value, f"{path}.", out)
        elif field.type == _STRING:
            if field.is_repeated:
                for i, item in enumerate(value):
                    clean = _clean(item, f"{path}[{i}]", out)
                    if clean is not item:
                        value[i] = clean
            else:
                clean = _clean(value, path, out)
                if clean is not value:
                    setattr(message, field.name, clean)


def _walk_map(field: FieldDescriptor, mapping: Any, path: str, out: list[FieldViolation]) -> None:
    key_is_string = field.message_type.fields_by_name["key"].type == _STRING
    value_field = field.message_type.fields_by_name["value"]
    for key in list(mapping):
        item_path = path
        if key_is_string:
            clean_key = _clean(key, path, out)
            if not has_control_characters(key) and len(key) <= MAX_KEY_IN_PATH:
                item_path = f'{path}["{clean_key}"]'
            if clean_key is not key:
                if value_field.type == _MESSAGE:
                    mapping[clean_key].CopyFrom(mapping[key])
                else:
                    mapping[clean_key] = mapping[key]
                del mapping[key]
                key = clean_key
        else:
            item_path = f"{path}[{key}]"
        if value_field.type == _MESSAGE:
            _walk(mapping[key], f"{item_path}.", out)
        elif value_field.type == _STRING:
            text = mapping[key]
            clean = _clean(text, item_path, out)
            if clean is not text:
                mapping[key] = clean


def _clean(text: str, path: str, out: list[FieldViolation]) -> str:
    if has_control_characters(text):
        out.append(FieldViolation(path, CONTROL_DESCRIPTION))
        return text
    return nfc(text)
