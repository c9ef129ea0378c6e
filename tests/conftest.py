"""Shared fixtures: real Redis and PostgreSQL, each test on its own database/prefix."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
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


class SimnetProcess:
    """`solbot sim` in its own process, as the bot meets a real network: only URLs in common."""

    def __init__(self, process: subprocess.Popen[str], rpc_url: str, ws_url: str, venues_url: str):
        self.process = process
        self.rpc_url = rpc_url
        self.ws_url = ws_url
        self.venues_url = venues_url

    def settings_overrides(self) -> dict[str, str]:
        return {
            "jupiter_url": f"{self.venues_url}/jupiter/swap/v1",
            "jupiter_price_url": f"{self.venues_url}/jupiter/price/v3",
            "dflow_url": f"{self.venues_url}/dflow",
            "hashflow_url": f"{self.venues_url}/hashflow",
            "pyth_url": f"{self.venues_url}/pyth",
            "rpc_url": self.rpc_url,
            "rpc_ws_url": self.ws_url,
        }


@pytest.fixture
def simnet_process(tmp_path: Path) -> Iterator[SimnetProcess]:
    """The simnet in a child process on ephemeral ports; stopped with Ctrl-C afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "solbot",
            "sim",
            "--rpc-port",
            "0",
            "--ws-port",
            "0",
            "--venues-port",
            "0",
            "--slot-ms",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "SOLBOT_SIM_DATA_DIR": str(tmp_path / "sim"),
            "SOLBOT_SIM_BACKGROUND_TRADES_PER_S": "0",
            "COLUMNS": "200",
        },
    )
    assert process.stdout is not None
    text = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "simnet running" not in text:
        line = process.stdout.readline()
        if not line:
            break
        text += line
    urls = {
        name: re.search(pattern, text)
        for name, pattern in (
            ("rpc", r"simnet RPC\s+(\S+)"),
            ("ws", r"simnet WS\s+(\S+)"),
            ("venues", r"venues\s+(http://\S+)"),
        )
    }
    if not all(urls.values()):
        process.kill()
        raise RuntimeError(f"solbot sim did not start:\n{text}")
    try:
        yield SimnetProcess(
            process,
            urls["rpc"].group(1),  # type: ignore[union-attr]
            urls["ws"].group(1),  # type: ignore[union-attr]
            urls["venues"].group(1),  # type: ignore[union-attr]
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
