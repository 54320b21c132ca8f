"""Every table of the skyroute database, in one metadata: what Alembic compares the
migrated schema against and what tests that look at the whole schema use.

Each service declares its own tables (on the shared ``Base`` of services/schema.py);
this is the one module that imports them all. Importing a service's models here, rather
than one service importing another's, keeps their packages apart while foreign keys
across services (``booking_segments.fare_id`` -> ``fares.id``) still resolve.
"""

from __future__ import annotations

import account_service.store.models  # noqa: F401  accounts, account_sessions, tokens, outbox
import booking_service.store.models  # noqa: F401  bookings, booking_segments, booking_passengers
import search_service.models  # noqa: F401  airports, airlines, flights, fares
from services.schema import Base

metadata = Base.metadata

__all__ = ["metadata"]
