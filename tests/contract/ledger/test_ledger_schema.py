"""Migrations: applied from empty at connect, idempotent, in step with the models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from solbot.ledger import Database, Ledger
from solbot.ledger._models import Base

TABLES = {"users", "api_tokens", "wallets", "trades", "trade_signatures", "trade_events"}


def _tables(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def _schema_drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_apply_from_empty(database_url: str) -> None:
    """Connecting to an empty database creates every table and records the head revision."""
    async with Database.connect(database_url) as database:
        assert await database.revision() == Database.head_revision()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) >= TABLES


async def test_models_and_migrations_agree(ledger: Ledger) -> None:
    """Autogenerate finds nothing to add: the migrations build exactly the models' schema."""
    async with ledger.database.engine.connect() as connection:
        assert await connection.run_sync(_schema_drift) == []


async def test_connecting_again_keeps_the_data(database_url: str) -> None:
    """A restart migrates nothing twice and loses nothing."""
    async with Ledger.open(database_url) as first:
        user = await first.users.insert_user("alice", "h" * 64, "sbt_x")
    async with Ledger.open(database_url) as second:
        assert await second.users.user_named("alice") == user


async def test_instances_starting_together_migrate_once(database_url: str) -> None:
    """Several instances connecting at once to an empty database all start, on one schema."""

    async def start() -> str | None:
        async with Database.connect(database_url, pool_size=1) as database:
            return await database.revision()

    revisions = await asyncio.gather(*(start() for _ in range(4)))
    assert set(revisions) == {Database.head_revision()}


async def test_instances_starting_together_on_sqlite_share_one_write_ahead_log(
    tmp_path: Path,
) -> None:
    """The journal-mode switch races without SQLite's busy handler; every instance still starts."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"

    async def start() -> str:
        async with Database.connect(url, pool_size=1) as database:
            async with database.engine.connect() as connection:
                mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            assert isinstance(mode, str)
            return mode

    for _ in range(5):
        (tmp_path / "ledger.db").unlink(missing_ok=True)
        assert set(await asyncio.gather(*(start() for _ in range(8)))) == {"wal"}


async def test_ping_answers(ledger: Ledger) -> None:
    """Readiness: the database answers a round trip."""
    await ledger.database.ping()
