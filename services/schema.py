"""The schema conventions every service's tables share: one declarative ``Base`` (one
``MetaData``, so one database and one Alembic history), its constraint naming
convention, and the ``Money`` column type.

Each service declares its own tables on this ``Base`` in its own ``models.py``
(search_service: the inventory; booking_service: the bookings); neither imports the
other's. The one place that gathers every table is ``migrations/schema.py``.
"""

from __future__ import annotations

from sqlalchemy import MetaData, Numeric
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names: migrations and error handling can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Money is ``Decimal`` (NUMERIC(12, 2)) end to end, never float.
Money = Numeric(12, 2, asdecimal=True)

__all__ = ["NAMING_CONVENTION", "Base", "Money"]
