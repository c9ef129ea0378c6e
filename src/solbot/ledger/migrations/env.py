"""Alembic environment: the bot runs it in-process (connection passed in `config.attributes`).

From a shell, `alembic upgrade head` (alembic.ini at the repo root) migrates the database that
SOLBOT_DATABASE_URL names.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from solbot.ledger._models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    from solbot.config import load_settings
    from solbot.ledger._database import Database

    settings = load_settings()
    async with (
        Database.connect(settings.database_url, migrate=False) as database,
        database.engine.begin() as connection,
    ):
        await connection.run_sync(_run)


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    elif context.is_offline_mode():
        raise SystemExit(
            "offline (--sql) migrations are not supported; run them against a database"
        )
    else:
        asyncio.run(_run_from_settings())


_main()
