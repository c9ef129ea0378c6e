"""The ledger's database: one async engine, migrated to head on connect, explicit timeouts.

SQLite (default, one instance): WAL, foreign keys on, and transactions that write start with
`BEGIN IMMEDIATE`, so concurrent writers queue on the busy timeout instead of failing with
"database is locked" when a read transaction tries to upgrade to a write. WAL is a property of
the file, switched on once per connect with retries: SQLite answers a journal-mode change that
races another connection with "database is locked" at once, without its busy handler. PostgreSQL
(production): a bounded pool, connect/command/statement/lock timeouts, and migrations serialized
across instances by an advisory lock held for the migration's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import event, make_url, pool
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from solbot.errors import ConfigError
from solbot.ops import get_logger

__all__ = ["Database"]

_log = get_logger("solbot.ledger")
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_WRITE = "solbot_write"
# Any constant: instances starting together take turns migrating.
_MIGRATION_LOCK_ID = 0x50_1B_07_1E


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for our migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection, timeout_s: float) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
    command.upgrade(alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _install_sqlite_hooks(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (and DDL is transactional).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


async def _use_write_ahead_log(engine: AsyncEngine, *, timeout_s: float) -> None:
    """Switch the SQLite file to WAL (a no-op once it is), retrying while another connection races.

    Outside any transaction (SQLite refuses the switch inside one), on the driver's connection.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pause_s = 0.005
    while True:
        try:
            async with engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                if driver is not None:  # None only for a connection already invalidated
                    cursor = await driver.execute("PRAGMA journal_mode = WAL")
                    await cursor.close()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or loop.time() + pause_s >= deadline:
                raise
        await asyncio.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.1)


class Database:
    """`async with Database.connect(url) as db:` then `async with db.writing() as session:`."""

    def __init__(self, engine: AsyncEngine, *, write_wait_s: float = 10.0) -> None:
        self.engine = engine
        # SQLite has one writer at a time; queueing this process's writers here is fairer and
        # much faster than each polling the file lock with SQLite's busy-handler backoff.
        self._write_turn = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._write_wait_s = write_wait_s
        self._read = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{_WRITE: True}), expire_on_commit=False, autoflush=False
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str | SecretStr,
        *,
        migrate: bool = True,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 10.0,
        migration_timeout_s: float = 120.0,
    ) -> AsyncIterator[Database]:
        """Open the engine, migrate to head (unless told not to), dispose on exit."""
        engine = _create_engine(
            url.get_secret_value() if isinstance(url, SecretStr) else url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout_s=pool_timeout_s,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
        )
        try:
            database = cls(engine, write_wait_s=statement_timeout_s)
            if engine.dialect.name == "sqlite" and not _in_memory(engine.url.database):
                await _use_write_ahead_log(engine, timeout_s=statement_timeout_s)
            if migrate:
                await database.migrate(timeout_s=migration_timeout_s)
            yield database
        finally:
            await engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self, *, timeout_s: float = 120.0) -> None:
        """Bring the schema to the newest revision (a no-op when it is there already)."""
        # A write transaction from the start: on SQLite, a second process migrating at the same
        # time waits for this one and then finds the schema at head.
        writer = self.engine.execution_options(**{_WRITE: True})
        async with asyncio.timeout(timeout_s), writer.begin() as connection:
            before = await connection.run_sync(_current_revision)
            await connection.run_sync(_upgrade_to_head, timeout_s)
            after = await connection.run_sync(_current_revision)
        if before != after:
            _log.info("ledger_migrated", from_revision=before, to_revision=after)

    async def revision(self) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current_revision)

    @staticmethod
    def head_revision() -> str | None:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    async def ping(self, *, timeout_s: float = 2.0) -> None:
        """For readiness: one round trip, or an exception."""
        async with asyncio.timeout(timeout_s), self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session, session.begin():
            yield session

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success, rolled back on any exception."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_turn is not None:
                async with asyncio.timeout(self._write_wait_s):
                    await self._write_turn.acquire()
                stack.callback(self._write_turn.release)
            session = await stack.enter_async_context(self._write())
            await stack.enter_async_context(session.begin())
            yield session


def _in_memory(database: str | None) -> bool:
    """Whether a SQLite URL's database part names no file."""
    return database in (None, "", ":memory:")


def _create_engine(
    url: str,
    *,
    pool_size: int,
    max_overflow: int,
    pool_timeout_s: float,
    connect_timeout_s: float,
    statement_timeout_s: float,
) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(
            "invalid setting SOLBOT_DATABASE_URL: not a database URL",
            variable="SOLBOT_DATABASE_URL",
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "aiosqlite":
        memory = _in_memory(parsed.database)
        options: dict[str, Any] = {"connect_args": {"timeout": statement_timeout_s}}
        if memory:
            # One shared connection, or each checkout would see its own empty database.
            options["poolclass"] = pool.StaticPool
            options["connect_args"]["check_same_thread"] = False
        else:
            options.update(
                pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout_s
            )
        engine = create_async_engine(parsed, **options)
        _install_sqlite_hooks(engine.sync_engine, busy_timeout_s=statement_timeout_s)
        return engine
    if backend == "postgresql" and driver == "asyncpg":
        millis = str(int(statement_timeout_s * 1000))
        return create_async_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout_s,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={
                "timeout": connect_timeout_s,
                "command_timeout": statement_timeout_s,
                "server_settings": {
                    "application_name": "solbot",
                    "statement_timeout": millis,
                    "lock_timeout": millis,
                    "idle_in_transaction_session_timeout": str(int(statement_timeout_s * 3000)),
                },
            },
        )
    raise ConfigError(
        "invalid setting SOLBOT_DATABASE_URL: use sqlite+aiosqlite:///PATH or "
        "postgresql+asyncpg://USER@HOST/DB",
        variable="SOLBOT_DATABASE_URL",
    )
