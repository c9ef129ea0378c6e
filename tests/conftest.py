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


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """For a test that configures logging itself: structlog's configuration as it was, after."""
    import structlog

    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


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

    def __init__(
        self, process: subprocess.Popen[bytes], rpc_url: str, ws_url: str, venues_url: str
    ) -> None:
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


def _wait_for_line(log_path: Path, process: subprocess.Popen[bytes], marker: str) -> str:
    """The process's output so far, once `marker` appears in it (its output goes to a file, so
    a child that logs a lot never blocks on a full pipe)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        if marker in text:
            return text
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{process.args!r} did not start:\n{log_path.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def simnet_process(tmp_path: Path) -> Iterator[SimnetProcess]:
    """The simnet in a child process on ephemeral ports; stopped with Ctrl-C afterwards."""
    log_path = tmp_path / "simnet.log"
    with log_path.open("wb") as log:
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
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "SOLBOT_SIM_DATA_DIR": str(tmp_path / "sim"),
                "SOLBOT_SIM_BACKGROUND_TRADES_PER_S": "0",
                "COLUMNS": "200",
            },
        )
    try:
        text = _wait_for_line(log_path, process, "simnet running")
        urls = [
            re.search(pattern, text)
            for pattern in (r"simnet RPC\s+(\S+)", r"simnet WS\s+(\S+)", r"venues\s+(http://\S+)")
        ]
        rpc, ws, venues = (match.group(1) for match in urls if match is not None)
        yield SimnetProcess(process, rpc, ws, venues)
    finally:
        _stop(process)


class BotProcess:
    """`solbot serve` in its own process, pointed at a simnet process by its settings alone."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url


@pytest.fixture
def start_bot(simnet_process: SimnetProcess, tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """Starts bot instances (`solbot serve --port 0`) on the simnet process; all stopped after.

    A bot that died on its own during the test fails it at teardown, with its log (a fatal
    signal's traceback included: PYTHONFAULTHANDLER)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> BotProcess:
        name = f"bot{len(started)}"
        env = {key: value for key, value in os.environ.items() if key != "SOLBOT_REDIS_URL"} | {
            **{f"SOLBOT_{k.upper()}": v for k, v in simnet_process.settings_overrides().items()},
            "SOLBOT_SIMNET": "true",
            "SOLBOT_SIMNET_DATA_DIR": str(tmp_path / name),
            "SOLBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}",
            "SOLBOT_LOG_LEVEL": "warning",
            "SOLBOT_STREAM_PORT": "0",
            "PYTHONFAULTHANDLER": "1",
            **{f"SOLBOT_{k.upper()}": v for k, v in settings.items()},
        }
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "solbot", "serve", "--port", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        started.append(process)
        text = _wait_for_line(log_path, process, "Ctrl-C stops it")
        match = re.search(r"serving (http://\S+)", text)
        assert match is not None, text
        return BotProcess(process, match.group(1))

    yield start
    died = [(i, p.returncode) for i, p in enumerate(started) if p.poll() is not None]
    for process in started:
        _stop(process)
    for i, code in died:
        log = (tmp_path / f"bot{i}.log").read_text(errors="replace")[-4000:]
        pytest.fail(f"bot{i} exited on its own during the test (code {code}):\n{log}")
