"""All of the tracking service's SQL (asyncpg).

Claims: due trackers are claimed with ``FOR UPDATE SKIP LOCKED`` (replicas never wait on
each other's rows), each claim setting ``lease_owner``, ``lease_until`` and a new
``fence``. A run's result is stored only by ``finish``, whose UPDATE matches the fence
and the period claimed: a replica that lost its claim (killed, or paused past
``lease_until`` while another replica re-claimed the tracker) stores nothing. A batch's
runs and alerts are inserted by that same statement, under unique keys (tracker, period)
and (tracker, period, kind). Times come from PostgreSQL's clock, never a replica's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.db import pooled
from tracking_service.gates import KeyedGate
from tracking_service.kinds import TrackedSearch
from tracking_service.triggers import AlertDraft, Observation, TriggerSpec, TriggerState

TRACKER_COLUMNS = (
    "id, user_id, kind, search, search_key, frequency_seconds, drop_percent, target_price, "
    "target_currency, back_in_stock, paused, ends_at, next_run_at, fence, last_price, "
    "last_currency, last_in_stock, drop_reference, below_target, last_period, created_at, "
    "updated_at, ends_at <= now() AS ended"
)


class LimitReached(Exception):
    """The user has the most trackers allowed."""


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _fields(cls: type, r: asyncpg.Record) -> dict[str, Any]:
    """The record's values of ``cls``'s fields, its JSONB ``best_offer`` decoded."""
    values = {f.name: r[f.name] for f in fields(cls)}
    if isinstance(values.get("best_offer"), str):
        values["best_offer"] = json.loads(values["best_offer"])
    return values


@dataclass(frozen=True)
class TrackerRow:
    id: int
    user_id: str
    kind: str
    search: dict[str, Any]
    search_key: str
    frequency_seconds: int
    triggers: TriggerSpec
    paused: bool
    ended: bool
    ends_at: datetime
    next_run_at: datetime
    fence: int
    state: TriggerState
    last_period: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: asyncpg.Record, search: dict[str, Any] | None = None) -> TrackerRow:
        """``search``: the row's search already decoded (by a claim, once per key)."""
        if search is None:
            search = json.loads(r["search"]) if isinstance(r["search"], str) else r["search"]
        return cls(
            id=r["id"],
            user_id=r["user_id"],
            kind=r["kind"],
            search=search,
            search_key=r["search_key"],
            frequency_seconds=r["frequency_seconds"],
            triggers=TriggerSpec(
                r["drop_percent"], r["target_price"], r["target_currency"], r["back_in_stock"]
            ),
            paused=r["paused"],
            ended=r["ended"],
            ends_at=r["ends_at"],
            next_run_at=r["next_run_at"],
            fence=r["fence"],
            state=TriggerState(
                r["last_price"],
                r["last_currency"],
                r["last_in_stock"],
                r["drop_reference"],
                r["below_target"],
            ),
            last_period=r["last_period"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )


@dataclass(frozen=True)
class Claim:
    """A due period of a tracker, claimed by this replica with fencing number ``fence``."""

    tracker: TrackerRow
    period: datetime
    fence: int
    claimed_at: datetime


@dataclass(frozen=True)
class RunRow:
    period_start: datetime
    claimed_at: datetime
    finished_at: datetime
    lowest_price: Decimal | None
    currency: str | None
    best_offer_id: str | None
    offers_found: int
    best_offer: dict[str, Any] | None

    @classmethod
    def of(cls, r: asyncpg.Record) -> RunRow:
        return cls(**_fields(cls, r))


RUN_COLUMNS = (
    "period_start, claimed_at, finished_at, lowest_price, currency, best_offer_id, "
    "offers_found, best_offer"
)


@dataclass(frozen=True)
class AlertRow:
    id: int
    tracker_id: int
    user_id: str
    kind: str
    price: Decimal | None
    currency: str | None
    reference_price: Decimal | None
    best_offer_id: str | None
    period_start: datetime
    created_at: datetime
    acknowledged_at: datetime | None
    best_offer: dict[str, Any] | None

    @classmethod
    def of(cls, r: asyncpg.Record) -> AlertRow:
        return cls(**_fields(cls, r))


@dataclass(frozen=True)
class Finished:
    """A run to store: the claim and what the run saw and decided."""

    claim: Claim
    seen: Observation
    state: TriggerState
    alerts: Sequence[AlertDraft]


ALERT_COLUMNS = (
    "id, tracker_id, user_id, kind, price, currency, reference_price, best_offer_id, "
    "period_start, created_at, acknowledged_at, best_offer"
)

# Serialises one user's creates (the per-user limit) for the transaction only, so it
# is safe behind PgBouncer in transaction mode.
USER_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('tracking:' || $1, 0))"

INSERT_TRACKER = f"""
INSERT INTO price_trackers (user_id, request_id, kind, search, search_key, frequency_seconds,
    drop_percent, target_price, target_currency, back_in_stock, ends_at, next_run_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()))
RETURNING {TRACKER_COLUMNS}
"""

# Due trackers in (next_run_at, search_key) order, so runs of one search share a batch;
# the index on both columns (ix_price_trackers_due) lets a claim read about one batch of
# rows, and ``= ANY(ARRAY(...))`` updates them through the primary key.
CLAIM = f"""
WITH due AS (
    SELECT id FROM price_trackers
    WHERE NOT paused AND next_run_at <= now() AND ends_at > now()
      AND (lease_until IS NULL OR lease_until <= now())
    ORDER BY next_run_at, search_key
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE price_trackers p
SET lease_owner = $1, lease_until = now() + make_interval(secs => $3), fence = p.fence + 1
WHERE p.id = ANY(ARRAY(SELECT id FROM due))
RETURNING {", ".join("p." + c.strip() for c in TRACKER_COLUMNS.split(",")[:-1])},
    p.ends_at <= now() AS ended, now() AS claimed_at
"""

# One statement stores a batch of runs (so one round trip, and atomic without an explicit
# transaction; ``p.id = ANY(...)`` reads the batch's trackers by primary key rather than
# hashing the whole table): ``won`` moves on the trackers whose fence and period are still the
# claim's (otherwise another replica has re-claimed the tracker, or the user changed its
# schedule, and that result is dropped); only their runs and alerts are inserted, under
# unique keys (tracker, period) and (tracker, period, kind). The next period is the
# first one after now: periods missed while nobody ran are skipped. One row comes back
# per new alert (alert columns NULL when there is none), each with the runs stored.
FINISH = f"""
WITH run AS (
    SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[],
                         $6::numeric[], $7::text[], $8::text[], $9::int[], $10::numeric[],
                         $11::text[], $12::bool[], $13::numeric[], $14::bool[], $15::text[])
        AS i(id, fence, period, claimed_at, price, currency, offer, found, last_price,
             last_currency, in_stock, drop_reference, below_target, details)
), won AS (
    UPDATE price_trackers p
    SET next_run_at = p.next_run_at + make_interval(secs => p.frequency_seconds * (
            floor(extract(epoch FROM now() - p.next_run_at) / p.frequency_seconds) + 1)),
        lease_owner = NULL, lease_until = NULL, last_period = p.next_run_at,
        last_price = i.last_price, last_currency = i.last_currency,
        last_in_stock = i.in_stock, drop_reference = i.drop_reference,
        below_target = i.below_target
    FROM run i
    WHERE p.id = ANY($2::bigint[])
      AND p.id = i.id AND p.fence = i.fence AND p.next_run_at = i.period
    RETURNING p.id, p.user_id
), stored AS (
    INSERT INTO tracker_runs (tracker_id, period_start, fence, replica, claimed_at,
        lowest_price, currency, best_offer_id, offers_found, best_offer)
    SELECT i.id, i.period, i.fence, $1, i.claimed_at, i.price, i.currency, i.offer, i.found,
        i.details::jsonb
    FROM run i JOIN won USING (id)
    ON CONFLICT DO NOTHING
), alerted AS (
    INSERT INTO tracker_alerts (tracker_id, user_id, period_start, kind, price, currency,
        reference_price, best_offer_id, best_offer)
    SELECT a.id, won.user_id, a.period, a.kind, a.price, a.currency, a.reference, a.offer,
        r.details::jsonb
    FROM unnest($16::bigint[], $17::timestamptz[], $18::text[], $19::numeric[], $20::text[],
                $21::numeric[], $22::text[])
        AS a(id, period, kind, price, currency, reference, offer)
    JOIN won USING (id) JOIN run r USING (id)
    ON CONFLICT DO NOTHING
    RETURNING {ALERT_COLUMNS}
)
SELECT (SELECT count(*) FROM won) AS stored_runs, alerted.*
FROM (VALUES (1)) AS one(n) LEFT JOIN alerted ON true
"""

RETRY_LATER = """
UPDATE price_trackers p SET lease_until = now() + make_interval(secs => $3)
FROM unnest($1::bigint[], $2::bigint[]) AS i(id, fence)
WHERE p.id = ANY($1::bigint[]) AND p.id = i.id AND p.fence = i.fence
"""


class TrackingStore:
    def __init__(
        self, pool: asyncpg.Pool, acquire_timeout: float, transaction_idle_seconds: float = 15.0
    ) -> None:
        """``transaction_idle_seconds``: PostgreSQL ends a transaction of ours that waits
        on us this long (a replica stopped mid-transaction), releasing its row locks, so
        that ``SKIP LOCKED`` claims can reach those trackers once their leases expire."""
        self._pool = pool
        self._timeout = acquire_timeout
        # One user's creates queue here, not on pooled connections (tracking_service/gates.py).
        self._creates = KeyedGate()
        # SET LOCAL: for the transaction only, so also right behind PgBouncer.
        self._idle_limit = (
            "SET LOCAL idle_in_transaction_session_timeout = "
            f"{max(1, int(transaction_idle_seconds * 1000))}"
        )

    def _conn(self) -> Any:
        return pooled(self._pool, self._timeout)

    # -- trackers ------------------------------------------------------------------

    async def create(
        self,
        user_id: str,
        request_id: str | None,
        search: TrackedSearch,
        ends_at: datetime,
        frequency_seconds: int,
        triggers: TriggerSpec,
        first_run_at: datetime | None,
        limit: int,
    ) -> TrackerRow:
        """Raises LimitReached. A repeated (user, request id) returns the first tracker.

        The limit is exact across replicas: the user's advisory lock serialises the
        count and the insert. A replica sends one create per user at a time to it, the
        rest wait in memory, so a burst by one user holds one connection per replica."""
        async with self._creates.hold(user_id), self._conn() as conn, conn.transaction():
            await conn.execute(self._idle_limit)
            await conn.execute(USER_LOCK, user_id)
            if request_id:
                row = await conn.fetchrow(
                    f"SELECT {TRACKER_COLUMNS} FROM price_trackers "
                    "WHERE user_id = $1 AND request_id = $2",
                    user_id,
                    request_id,
                )
                if row is not None:
                    return TrackerRow.of(row)
            count = await conn.fetchval(
                "SELECT count(*) FROM price_trackers WHERE user_id = $1 AND ends_at > now()",
                user_id,
            )
            if count >= limit:
                raise LimitReached()
            row = await conn.fetchrow(
                INSERT_TRACKER,
                user_id,
                request_id or None,
                search.kind.value,
                json.dumps(search.params),
                search.key,
                frequency_seconds,
                triggers.drop_percent,
                triggers.target_price,
                triggers.target_currency,
                triggers.back_in_stock,
                ends_at,
                first_run_at,
            )
        return TrackerRow.of(row)

    async def known_airports(self, codes: Sequence[str]) -> set[str]:
        """Those of ``codes`` in the airports table (what search validates against)."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT iata_code FROM airports WHERE iata_code = ANY($1::text[])", list(codes)
            )
        return {r["iata_code"] for r in rows}

    async def get(self, user_id: str, tracker_id: int) -> TrackerRow | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"SELECT {TRACKER_COLUMNS} FROM price_trackers WHERE id = $1 AND user_id = $2",
                tracker_id,
                user_id,
            )
        return None if row is None else TrackerRow.of(row)

    async def list_trackers(
        self, user_id: str, before_id: int | None, limit: int
    ) -> list[TrackerRow]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {TRACKER_COLUMNS} FROM price_trackers WHERE user_id = $1 "
                "AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                user_id,
                before_id,
                limit,
            )
        return [TrackerRow.of(r) for r in rows]

    async def update(
        self,
        user_id: str,
        tracker_id: int,
        frequency_seconds: int | None,
        triggers: TriggerSpec | None,
    ) -> TrackerRow | None:
        t = triggers
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"UPDATE price_trackers SET "
                "frequency_seconds = coalesce($3, frequency_seconds), "
                "drop_percent = CASE WHEN $4 THEN $5 ELSE drop_percent END, "
                "target_price = CASE WHEN $4 THEN $6 ELSE target_price END, "
                "target_currency = CASE WHEN $4 THEN $7 ELSE target_currency END, "
                "back_in_stock = CASE WHEN $4 THEN $8 ELSE back_in_stock END, "
                "below_target = CASE WHEN $4 THEN false ELSE below_target END, "
                "updated_at = now() WHERE id = $1 AND user_id = $2 "
                f"RETURNING {TRACKER_COLUMNS}",
                tracker_id,
                user_id,
                frequency_seconds,
                t is not None,
                t.drop_percent if t else None,
                t.target_price if t else None,
                t.target_currency if t else None,
                t.back_in_stock if t else False,
            )
        return None if row is None else TrackerRow.of(row)

    async def set_paused(self, user_id: str, tracker_id: int, paused: bool) -> TrackerRow | None:
        """Pausing keeps the schedule; resuming a paused tracker makes it due now."""
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "UPDATE price_trackers SET next_run_at = CASE WHEN paused AND NOT $3 "
                "THEN now() ELSE next_run_at END, paused = $3, updated_at = now() "
                f"WHERE id = $1 AND user_id = $2 RETURNING {TRACKER_COLUMNS}",
                tracker_id,
                user_id,
                paused,
            )
        return None if row is None else TrackerRow.of(row)

    async def delete(self, user_id: str, tracker_id: int) -> bool:
        async with self._conn() as conn:
            done = await conn.execute(
                "DELETE FROM price_trackers WHERE id = $1 AND user_id = $2", tracker_id, user_id
            )
        return bool(done.endswith(" 1"))

    # -- runs ------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[Claim]:
        async with self._conn() as conn:
            rows = await conn.fetch(CLAIM, owner, limit, lease_seconds)
        # Trackers of one search come together: its JSON is decoded once.
        searches: dict[str, dict[str, Any]] = {}
        claims = []
        for r in rows:
            search = searches.get(r["search_key"])
            if search is None:
                raw = r["search"]
                search = searches[r["search_key"]] = (
                    json.loads(raw) if isinstance(raw, str) else raw
                )
            claims.append(
                Claim(TrackerRow.of(r, search), r["next_run_at"], r["fence"], r["claimed_at"])
            )
        return claims

    async def finish(self, owner: str, runs: Sequence[Finished]) -> tuple[int, list[AlertRow]]:
        """Stores the runs whose claims still hold; returns how many, and the new alerts."""
        if not runs:
            return 0, []
        drafts = [(f, a) for f in runs for a in f.alerts]
        # The best offer's description, encoded once per observation (trackers of one
        # search share theirs).
        details = {id(f.seen): _json(f.seen.details) for f in runs}
        async with self._conn() as conn:
            rows = await conn.fetch(
                FINISH,
                owner,
                [f.claim.tracker.id for f in runs],
                [f.claim.fence for f in runs],
                [f.claim.period for f in runs],
                [f.claim.claimed_at for f in runs],
                [f.seen.price for f in runs],
                [f.seen.currency for f in runs],
                [f.seen.best_offer_id for f in runs],
                [f.seen.offers_found for f in runs],
                [f.state.last_price for f in runs],
                [f.state.last_currency for f in runs],
                [f.state.last_in_stock for f in runs],
                [f.state.drop_reference for f in runs],
                [f.state.below_target for f in runs],
                [details[id(f.seen)] for f in runs],
                [f.claim.tracker.id for f, _ in drafts],
                [f.claim.period for f, _ in drafts],
                [a.kind.value for _, a in drafts],
                [a.price for _, a in drafts],
                [a.currency for _, a in drafts],
                [a.reference_price for _, a in drafts],
                [a.best_offer_id for _, a in drafts],
            )
        return int(rows[0]["stored_runs"]), [AlertRow.of(r) for r in rows if r["id"] is not None]

    async def retry_later(self, claims: Sequence[Claim], seconds: float) -> None:
        """Keeps the claims' periods due, but not before ``seconds`` from now."""
        if not claims:
            return
        async with self._conn() as conn:
            await conn.execute(
                RETRY_LATER, [c.tracker.id for c in claims], [c.fence for c in claims], seconds
            )

    async def history(
        self, user_id: str, tracker_id: int, before: datetime | None, limit: int
    ) -> list[RunRow] | None:
        """Newest first; None if the user has no such tracker."""
        async with self._conn() as conn:
            if (
                await conn.fetchval(
                    "SELECT 1 FROM price_trackers WHERE id = $1 AND user_id = $2",
                    tracker_id,
                    user_id,
                )
                is None
            ):
                return None
            rows = await conn.fetch(
                f"SELECT {RUN_COLUMNS} FROM tracker_runs WHERE tracker_id = $1 "
                "AND ($2::timestamptz IS NULL OR period_start < $2) "
                "ORDER BY period_start DESC LIMIT $3",
                tracker_id,
                before,
                limit,
            )
        return [RunRow.of(r) for r in rows]

    async def latest_runs(self, tracker_ids: Sequence[int]) -> dict[int, RunRow]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT DISTINCT ON (tracker_id) tracker_id, {RUN_COLUMNS} "
                "FROM tracker_runs WHERE tracker_id = ANY($1::bigint[]) "
                "ORDER BY tracker_id, period_start DESC",
                list(tracker_ids),
            )
        return {r["tracker_id"]: RunRow.of(r) for r in rows}

    # -- alerts ----------------------------------------------------------------------

    async def alerts(
        self, user_id: str, before_id: int | None, limit: int, unacknowledged_only: bool
    ) -> list[AlertRow]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {ALERT_COLUMNS} FROM tracker_alerts WHERE user_id = $1 "
                "AND ($2::bigint IS NULL OR id < $2) AND (NOT $4 OR acknowledged_at IS NULL) "
                "ORDER BY id DESC LIMIT $3",
                user_id,
                before_id,
                limit,
                unacknowledged_only,
            )
        return [AlertRow.of(r) for r in rows]

    async def alerts_after(
        self, user_id: str, after_id: int, ids: Sequence[int] | None = None
    ) -> list[AlertRow]:
        """The user's alerts with ids above ``after_id`` (or among ``ids``), oldest first."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {ALERT_COLUMNS} FROM tracker_alerts WHERE user_id = $1 AND id > $2 "
                "AND ($3::bigint[] IS NULL OR id = ANY($3)) ORDER BY id LIMIT 1000",
                user_id,
                after_id,
                None if ids is None else list(ids),
            )
        return [AlertRow.of(r) for r in rows]

    async def last_alert_id(self, user_id: str) -> int:
        async with self._conn() as conn:
            value = await conn.fetchval(
                "SELECT max(id) FROM tracker_alerts WHERE user_id = $1", user_id
            )
        return int(value or 0)

    async def acknowledge(self, user_id: str, alert_id: int) -> AlertRow | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "UPDATE tracker_alerts SET acknowledged_at = coalesce(acknowledged_at, now()) "
                f"WHERE id = $1 AND user_id = $2 RETURNING {ALERT_COLUMNS}",
                alert_id,
                user_id,
            )
        return None if row is None else AlertRow.of(row)

    async def release(self, owner: str) -> int:
        """Hands this replica's claims back at once (a clean shutdown, after its runs
        were cancelled): another replica takes them without waiting for the lease."""
        async with self._conn() as conn:
            done = await conn.execute(
                "UPDATE price_trackers SET lease_until = now() "
                "WHERE lease_owner = $1 AND lease_until > now()",
                owner,
            )
        return int(done.split()[-1])

    async def due_now(self) -> int:
        """For the dashboard: trackers due and not claimed (the fleet's backlog)."""
        async with self._conn() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM price_trackers WHERE NOT paused "
                    "AND next_run_at <= now() AND ends_at > now() "
                    "AND (lease_until IS NULL OR lease_until <= now())"
                )
            )
