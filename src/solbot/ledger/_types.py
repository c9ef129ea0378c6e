"""Column types that keep amounts exact and timestamps in UTC on every database.

Amounts are u64 (lamports, token base units): up to 2**64 - 1, which does not fit PostgreSQL's
BIGINT (signed 64-bit). PostgreSQL stores them as NUMERIC(20, 0): exact, comparable and summable
in SQL. SQLite would turn an integer above 2**63 - 1 in a NUMERIC column into a REAL and lose
digits, so there they are stored as decimal text. Either way Python sees an `int`, and a value
outside 0..2**64-1 is refused before it reaches the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["U64", "U64_MAX", "UtcDateTime", "u64_column_type"]

U64_MAX = 2**64 - 1


def u64_column_type() -> TypeEngine[Any]:
    """The DDL type of a u64 column, as the migrations spell it."""
    return sa.Numeric(20, 0).with_variant(sa.String(20), "sqlite")


class U64(TypeDecorator[int]):
    impl = sa.Numeric(20, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(20, 0))
        return dialect.type_descriptor(sa.String(20))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
            raise ValueError(f"an amount must be an integer within 0..2**64-1, not {value!r}")
        return Decimal(value) if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no offset, so we add it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
