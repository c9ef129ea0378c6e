"""A real gateway (PriceRig: StreamHub + StreamServer on an ephemeral port, synthetic prices)
and a runner for the `solbot loadtest` command in a child process."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from solbot.loadtest import PriceRig, generated_mints

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str


async def run_cli(*args: str, timeout_s: float = 90.0) -> CliRun:
    """`python -m solbot.loadtest ARGS` in a child process (its workers are its children)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "solbot.loadtest",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return CliRun(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def rig() -> AsyncIterator[PriceRig]:
    """The gateway under test: 50 assets (the smoke scenario's), 100 price updates/s."""
    async with PriceRig(generated_mints(50), rate=100.0, users=50) as running:
        yield running


@pytest.fixture
def rig_prefix() -> str:
    return f"solbot-test:{uuid.uuid4().hex[:12]}:"
