"""Tokens sealed at rest in a real Redis: nothing under the prefix holds a token in
clear; a value that does not open reads as an invalid token (refreshed, logged once)."""

from __future__ import annotations

import logging
import os

import pytest
from redis.asyncio import Redis

from token_service.lock import Lease
from token_service.sealing import Sealer
from token_service.store import TokenRecord, TokenStore

K1, K2 = os.urandom(32), os.urandom(32)
LOCK_MS = 5_000


def store_with(
    redis: Redis,
    prefix: str,
    keys: dict[str, bytes],
    provider: str = "amadeus",
    owner: str = "replica-a",
) -> TokenStore:
    return TokenStore(redis, prefix, provider, owner, Sealer(keys))


async def lease_of(store: TokenStore) -> Lease:
    lease, _ = await store.lock.try_acquire(LOCK_MS)
    assert lease is not None
    return lease


async def refresh(store: TokenStore, token: str) -> int:
    rec = await store.read()
    lease = await lease_of(store)
    try:
        generation, why = await store.fenced_write(
            lease, rec.generation if rec else 0, token, "Bearer", 60_000, 45_000, 0
        )
    finally:
        await store.lock.release(lease)
    assert why == "ok"
    return generation


async def everything_under(redis: Redis, prefix: str) -> bytes:
    """Every key and value under ``prefix``, whatever its type, as one blob."""
    blob = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        blob.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                blob += [field, value]
        elif kind == "string":
            blob.append(await redis.get(key) or b"")
        else:
            blob.append(repr(await redis.dump(key)).encode())
    return b"\n".join(blob)


async def test_no_token_in_clear_under_the_prefix(redis: Redis, key_prefix: str, redis_now) -> None:
    store = store_with(redis, key_prefix, {"k1": K1})
    tokens = [f"clear-token-{i}-{os.urandom(8).hex()}" for i in range(3)]
    await refresh(store, tokens[0])
    await store.invalidate(tokens[0])
    await refresh(store, tokens[1])
    lease = await lease_of(store)
    now = await redis_now()
    await store.invalidate(tokens[1])
    await store.adopt(
        lease, TokenRecord(tokens[2], "Bearer", 7, now, now + 60_000, now + 45_000, False)
    )
    await store.record_failure("boom", 10, 100, 0.5, 0)
    rec = await store.read()
    assert rec is not None and rec.access_token == tokens[2]

    stored = await redis.hget(store.token_key, "access_token")
    assert stored is not None and stored.startswith(b"v1.k1.")
    blob = await everything_under(redis, key_prefix)
    assert store.token_key.encode() in blob
    for token in tokens:
        assert token.encode() not in blob


@pytest.mark.parametrize("copied_from", [("other", "access_token"), ("amadeus", "refresh_token")])
async def test_a_value_copied_from_another_slot_reads_as_invalid(
    redis: Redis, key_prefix: str, copied_from: tuple[str, str]
) -> None:
    store = store_with(redis, key_prefix, {"k1": K1})
    generation = await refresh(store, "the-real-token")
    provider, field = copied_from
    foreign = Sealer({"k1": K1}).seal("a-foreign-token", f"{provider}/{field}")
    await redis.hset(store.token_key, "access_token", foreign)
    rec = await store.read()
    assert rec is not None and rec.invalid and rec.access_token == ""
    assert rec.generation == generation
    # The next refresh replaces it: the generation it read is the one stored.
    assert await refresh(store, "the-next-token") == generation + 1
    rec = await store.read()
    assert rec is not None and not rec.invalid and rec.access_token == "the-next-token"


async def test_unknown_key_id_reads_as_invalid_logged_once_without_the_value(
    redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    newer = store_with(redis, key_prefix, {"k2": K2}, owner="replica-new")
    older = store_with(redis, key_prefix, {"k1": K1}, owner="replica-old")
    await refresh(newer, "sealed-with-k2-token")
    stored = (await redis.hget(newer.token_key, "access_token")).decode()
    caplog.set_level(logging.WARNING, logger="skyroute.token.store")
    for _ in range(5):
        rec = await older.read()
        assert rec is not None and rec.invalid and rec.access_token == ""
    warnings = [r for r in caplog.records if r.name == "skyroute.token.store"]
    assert len(warnings) == 1
    assert getattr(warnings[0], "reason", "").find("unknown key id 'k2'") >= 0
    logged = caplog.text + repr(warnings[0].__dict__)
    assert "sealed-with-k2-token" not in logged and stored.split(".")[2] not in logged
    # Tampered: flip one character of the ciphertext.
    body = stored.split(".")[2]
    tampered = f"v1.k2.{body[:-3]}{'A' if body[-3] != 'A' else 'B'}{body[-2:]}"
    await redis.hset(newer.token_key, "access_token", tampered)
    rec = await newer.read()
    assert rec is not None and rec.invalid


async def test_rotation_old_values_open_and_the_next_refresh_reseals(
    redis: Redis, key_prefix: str
) -> None:
    before = store_with(redis, key_prefix, {"k1": K1}, owner="a")
    staged = store_with(redis, key_prefix, {"k1": K1, "k2": K2}, owner="b")
    rotated = store_with(redis, key_prefix, {"k2": K2, "k1": K1}, owner="c")
    await refresh(before, "written-with-k1")
    for store in (staged, rotated):
        rec = await store.read()
        assert rec is not None and not rec.invalid and rec.access_token == "written-with-k1"
    await refresh(rotated, "written-with-k2")
    assert (await redis.hget(rotated.token_key, "access_token")).startswith(b"v1.k2.")
    rec = await staged.read()
    assert rec is not None and not rec.invalid and rec.access_token == "written-with-k2"
