"""Shared fixtures: real Redis and PostgreSQL, each test on its own database/prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis (db 15 by default); `make test` starts one when absent."""
    return os.environ.get("SOLBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"solbot-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    admin_dsn = os.environ.get(
        "SOLBOT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"solbot_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def simnet(tmp_path: Path) -> AsyncIterator[Any]:
    """The whole simnet in this process on ephemeral ports, fast slots, no background traders."""
    from solbot.config import SimnetSettings
    from solbot.sim import Simnet

    settings = SimnetSettings(
        rpc_port=0,
        ws_port=0,
        venues_port=0,
        slot_ms=50,
        background_trades_per_s=0,
        data_dir=str(tmp_path / "simnet"),
    )
    async with Simnet(settings) as running:
        yield running


@pytest.fixture
def bot_settings(simnet: Any, tmp_path: Path) -> Callable[..., Any]:
    """Makes Settings for bot instances on `simnet`: ledger and master key under tmp_path."""
    from solbot.config import load_settings

    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            **simnet.endpoints.settings_overrides("127.0.0.1"),
            "simnet": True,
            "simnet_data_dir": str(tmp_path / "bot-simnet"),
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
            "redis_url": None,
        }
        values.update(overrides)
        return load_settings(**values)

    return make
