"""Sealer: AES-GCM round trip, context binding, tampering, key ids, rotation, and key
configuration errors that never show a key."""

from __future__ import annotations

import base64
import os

import pytest

from services.config import ConfigError
from token_service.sealing import (
    KEY_BYTES,
    NONCE_BYTES,
    Sealer,
    SealError,
    new_key_entry,
    parse_keys,
    sealer_from,
)
from token_service.settings import EncryptionSettings

TOKEN = "access-token-4b1d9c0e7f2a"
CONTEXT = "amadeus/access_token"
K1, K2 = os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)


def body(sealed: str) -> bytes:
    encoded = sealed.split(".", 2)[2]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def test_round_trip_and_format() -> None:
    sealer = Sealer({"k1": K1})
    sealed = sealer.seal(TOKEN, CONTEXT)
    assert TOKEN not in sealed
    assert sealed.startswith("v1.k1.")
    assert sealer.kid_of(sealed) == "k1"
    # nonce + ciphertext (same length as the plaintext) + 16-byte tag
    assert len(body(sealed)) == NONCE_BYTES + len(TOKEN) + 16
    assert sealer.open(sealed, CONTEXT) == TOKEN


def test_fresh_nonce_per_value() -> None:
    sealer = Sealer({"k1": K1})
    values = {sealer.seal(TOKEN, CONTEXT) for _ in range(50)}
    assert len(values) == 50
    assert len({body(v)[:NONCE_BYTES] for v in values}) == 50


@pytest.mark.parametrize("other", ["other/access_token", "amadeus/refresh_token", ""])
def test_bound_to_provider_and_field(other: str) -> None:
    sealer = Sealer({"k1": K1})
    sealed = sealer.seal(TOKEN, CONTEXT)
    with pytest.raises(SealError) as err:
        sealer.open(sealed, other)
    assert TOKEN not in str(err.value) and sealed not in str(err.value)


def test_tampered_value_does_not_open() -> None:
    sealer = Sealer({"k1": K1})
    sealed = sealer.seal(TOKEN, CONTEXT)
    raw = bytearray(body(sealed))
    for index in (0, NONCE_BYTES, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 1
        forged = "v1.k1." + base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(SealError):
            sealer.open(forged, CONTEXT)


@pytest.mark.parametrize("value", ["", TOKEN, "v2.k1.AAAA", "v1.k1.", "v1.k1.%%%%", "v1.k1.AAAA"])
def test_malformed_values(value: str) -> None:
    with pytest.raises(SealError):
        Sealer({"k1": K1}).open(value, CONTEXT)


def test_unknown_kid_and_relabelled_kid() -> None:
    sealed = Sealer({"k2": K2}).seal(TOKEN, CONTEXT)
    with pytest.raises(SealError, match="unknown key id 'k2'"):
        Sealer({"k1": K1}).open(sealed, CONTEXT)
    # The key id is authenticated too: relabelling a value under another id fails.
    both = Sealer({"k1": K1, "k2": K2})
    with pytest.raises(SealError):
        both.open(sealed.replace("v1.k2.", "v1.k1."), CONTEXT)


def test_rotation_old_values_open_new_ones_use_the_new_key() -> None:
    before = Sealer({"k1": K1})
    staged = Sealer({"k1": K1, "k2": K2})  # step 1: k2 known everywhere, k1 still seals
    rotated = Sealer({"k2": K2, "k1": K1})  # step 2: k2 seals
    old = before.seal(TOKEN, CONTEXT)
    assert staged.kid == "k1" and staged.kid_of(staged.seal(TOKEN, CONTEXT)) == "k1"
    new = rotated.seal("new-token-value", CONTEXT)
    assert rotated.kid_of(new) == "k2"
    assert rotated.open(old, CONTEXT) == TOKEN  # written before the switch
    assert staged.open(new, CONTEXT) == "new-token-value"  # a replica not yet switched
    with pytest.raises(SealError):
        before.open(new, CONTEXT)  # why step 1 comes first


def test_parse_keys_accepts_standard_and_urlsafe_base64() -> None:
    text = (
        f"k1:{base64.b64encode(K1).decode()}, "
        f"k2:{base64.urlsafe_b64encode(K2).rstrip(b'=').decode()}"
    )
    assert parse_keys(text) == {"k1": K1, "k2": K2}
    assert sealer_from(new_key_entry("fresh")).kid == "fresh"


SHORT = base64.b64encode(b"a-sixteen-byte-k").decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"k1:{SHORT}", "key 'k1' must be 32 bytes"),
        ("k1:not*base64!", "key 'k1' is not base64"),
        (SHORT, "entry 1 must read kid:base64key"),
        (f"k1:{base64.b64encode(K1).decode()},k1:{base64.b64encode(K2).decode()}", "twice"),
        (f"bad.kid:{base64.b64encode(K1).decode()}", "key id 'bad.kid'"),
        (" , ", "at least one key"),
    ],
)
def test_bad_keys_are_refused_without_showing_them(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        sealer_from(text)
    for secret in (SHORT, base64.b64encode(K1).decode(), base64.b64encode(K2).decode()):
        assert secret not in str(err.value)


def test_settings_require_keys_and_read_a_file(tmp_path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"TOKEN_ENCRYPTION_KEYS \(or TOKEN_ENCRYPTION_KEYS"
        r"_FILE\) is required",
    ):
        EncryptionSettings.from_env({})
    entry = new_key_entry("k9")
    path = tmp_path / "keys"
    path.write_text(entry + "\n")
    settings = EncryptionSettings.from_env({"TOKEN_ENCRYPTION_KEYS_FILE": str(path)})
    assert settings.sealer().kid == "k9"
    assert entry.split(":")[1] not in repr(settings)
    assert entry.split(":")[1] not in repr(settings.sealer())
    with pytest.raises(ConfigError, match="key 'k1' must be 32 bytes") as err:
        EncryptionSettings.from_env({"TOKEN_ENCRYPTION_KEYS": f"k1:{SHORT}"})
    assert SHORT not in str(err.value)
