"""The venues app on a real socket (uvicorn, ephemeral port) over a real SimChain and Market."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from solbot.ops import AsgiServer
from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook
from solbot.sim.market import Market
from solbot.sim.venues import create_venues_app

from .support import FrozenClock, Venues


@pytest.fixture
async def venues(tmp_path: Path) -> AsyncIterator[Venues]:
    chain = SimChain()
    clock = FrozenClock()
    faults = FaultBook(rng=random.Random(3), clock=clock)
    market = Market(chain, faults, seed=11, data_dir=tmp_path)
    market.setup()
    app = create_venues_app(chain, market, faults, clock=clock, sse_keepalive_s=0.2)
    server = AsgiServer(app, "127.0.0.1", 0, timeout_graceful_shutdown=1)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            yield Venues(server.url, chain, market, faults, clock, client)
    finally:
        await server.stop()
