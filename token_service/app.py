"""Wires the token service together: Redis, brokers, download tokens, servicer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import aiohttp
import grpc
from grpc_health.v1 import health
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from services.interceptors import Authenticator
from services.logs import Redactor
from services.redis_client import SUBSCRIPTION_LOST, ReplicaAck, create_redis, subscriber
from services.server import NOT_SERVING, SERVING
from services.tasks import cancel_and_wait
from token_service.auth import CallerAuth
from token_service.broker import ProviderBroker
from token_service.download_tokens import DownloadTokens
from token_service.metrics import TokenMetrics
from token_service.redis_health import RedisHealth
from token_service.servicer import TokenServicer
from token_service.settings import TokenServiceSettings
from token_service.store import RedisClock, TokenStore
from token_service.upstream import TokenEndpoint

log = logging.getLogger("skyroute.token.app")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TokenService"].full_name
# Health entry that reports whether the shared Redis answers (the service keeps
# serving tokens from its degraded cache either way).
REDIS_HEALTH_NAME = "redis"
CLOCK_SYNC_SECONDS = 30.0


class TokenApp:
    service_names: Sequence[str] = (SERVICE_NAME,)

    def __init__(
        self, settings: TokenServiceSettings, registry: CollectorRegistry, redactor: Redactor
    ) -> None:
        self.settings = settings
        for provider in settings.providers:
            redactor.add(provider.client_secret)
            for secret in (provider.password, provider.refresh_token):
                if secret:
                    redactor.add(secret)
        for caller in settings.callers:
            redactor.add(caller.key)
        auth = CallerAuth(settings.callers, settings.admin_callers)
        self.authenticator: Authenticator | None = auth
        self._metrics = TokenMetrics(registry)
        self._redis = create_redis(settings.redis)
        ack = ReplicaAck.from_settings(settings.redis)
        self._redis_health = RedisHealth(self._redis)
        self._clock = RedisClock(self._redis)
        self._session = aiohttp.ClientSession()
        policy = settings.policy
        owner = settings.server.replica_id
        sealer = settings.encryption.sealer()
        # Key ids only: during a rotation, the logs show which replicas know which key.
        log.info(
            "token encryption keys",
            extra={"sealing_kid": sealer.kid, "kids": ",".join(sealer.kids)},
        )
        self.brokers = {
            p.name: ProviderBroker(
                p,
                TokenStore(self._redis, settings.redis.key_prefix, p.name, owner, sealer, ack),
                self._clock,
                TokenEndpoint(p, self._session, policy.upstream_timeout_seconds),
                policy,
                self._metrics,
                self._redis_health,
                redactor,
            )
            for p in settings.providers
        }
        self._by_channel = {b.channel: b for b in self.brokers.values()}
        self._servicer = TokenServicer(
            self.brokers,
            auth,
            DownloadTokens(self._redis, settings.redis.key_prefix, sealer, ack),
            policy.watch_heartbeat_seconds,
        )
        if policy.wait_max_seconds <= policy.lock_ttl_seconds + policy.upstream_timeout_seconds:
            # A holder's crash costs up to one lease plus one fetch; callers without a
            # longer deadline would give up before its successor answers them.
            log.warning(
                "TOKEN_WAIT_MAX_SECONDS should exceed TOKEN_LOCK_TTL_SECONDS + "
                "UPSTREAM_TIMEOUT_SECONDS",
                extra={
                    "wait_max": policy.wait_max_seconds,
                    "lock_ttl": policy.lock_ttl_seconds,
                    "upstream_timeout": policy.upstream_timeout_seconds,
                },
            )
        self._tasks: list[asyncio.Task[None]] = []
        self._health: health.aio.HealthServicer | None = None

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_TokenServiceServicer_to_server(self._servicer, server)

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        self._health = health_servicer
        self._redis_health.on_change(self._on_redis_change)
        try:
            await self._clock.sync()
        except RedisError as exc:
            self._redis_health.mark_down(exc)
        await health_servicer.set(
            REDIS_HEALTH_NAME, NOT_SERVING if self._redis_health.degraded else SERVING
        )
        loop = asyncio.get_running_loop()
        subscribed = asyncio.Event()
        self._tasks = [loop.create_task(self._listen(subscribed))]
        if not self._redis_health.degraded:
            # Subscribed and primed before we say SERVING, so no event is missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscribed.wait(), 2.0)
            for broker in self.brokers.values():
                with contextlib.suppress(RedisError):
                    await broker.prime()
        self._tasks += [
            loop.create_task(self._redis_health.run(self._recover)),
            loop.create_task(self._sync_clock()),
            *(loop.create_task(b.run()) for b in self.brokers.values()),
        ]
        await health_servicer.set(SERVICE_NAME, SERVING)

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        await self._session.close()
        await self._redis.aclose()

    async def status(self) -> dict[str, Any]:
        """Token state per provider for the status page (never the token itself)."""
        providers: dict[str, Any] = {}
        for name, broker in self.brokers.items():
            st = await broker.status()
            rec = st.record
            entry: dict[str, Any] = {
                "has_valid_token": bool(rec and rec.usable(st.now_ms)),
                "degraded": st.degraded,
                "refresh_locked": st.refresh_locked,
                "lock_holder": st.lock_holder,
                "refreshing": st.refreshing,
                "last_error": st.last_error or "-",
                "backoff_seconds": round(st.backoff_remaining_ms / 1000, 1),
                "replica_counters": asdict(st.counters),
                "cluster_counters": st.cluster,
                "grant": st.grant,
            }
            if st.reauthorization_required:
                entry["alarm"] = (
                    "REAUTHORIZATION_REQUIRED: the refresh-token chain is broken; "
                    "run `token authorize` or `token install-refresh-token`"
                )
            if st.store_window_ms is not None:
                entry["chain_store_window_ms_p50_p99"] = st.store_window_ms
            if rec is not None:
                entry.update(
                    generation=rec.generation,
                    issued_at=round(rec.issued_ms / 1000, 1),
                    token_age_seconds=round((st.now_ms - rec.issued_ms) / 1000, 1),
                    expires_in_seconds=round((rec.expires_ms - st.now_ms) / 1000, 1),
                    refresh_in_seconds=round((rec.refresh_ms - st.now_ms) / 1000, 1),
                )
            providers[name] = entry
        # The cluster dashboard's view of the upstreams: the last refresh's outcome.
        upstream = {
            name: "ok" if entry["last_error"] == "-" else "failing"
            for name, entry in providers.items()
        }
        return {
            "redis": "degraded" if self._redis_health.degraded else "ok",
            "providers": providers,
            "dependencies": {f"upstream {name}": state for name, state in upstream.items()},
        }

    async def _on_redis_change(self, degraded: bool) -> None:
        self._metrics.degraded.set(1 if degraded else 0)
        if self._health is not None:
            await self._health.set(REDIS_HEALTH_NAME, NOT_SERVING if degraded else SERVING)

    async def _recover(self) -> None:
        await self._clock.sync()
        for broker in self.brokers.values():
            await broker.recover()

    async def _sync_clock(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_SYNC_SECONDS)
            with contextlib.suppress(RedisError):
                await self._clock.sync()

    async def _listen(self, subscribed: asyncio.Event) -> None:
        """Pub/sub events of every provider; re-subscribes after Redis outages."""
        while True:
            pubsub = await subscriber(self._redis)
            try:
                await pubsub.subscribe(*self._by_channel)
                subscribed.set()
                for broker in self.brokers.values():
                    broker.mark_stale()  # events may have been missed while unsubscribed
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg["type"] == "message":
                        self._by_channel[msg["channel"].decode()].on_event(msg["data"])
            except asyncio.CancelledError:
                raise
            except SUBSCRIPTION_LOST as exc:
                self._redis_health.mark_down(exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
