"""With Redis configured, a breaker opening and the venue's rate limit hold for every instance."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from solbot.bootstrap import build_app, build_services
from solbot.ops import AsgiServer

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

pytestmark = pytest.mark.redis


@contextlib.asynccontextmanager
async def _instance(
    make_settings: Callable[..., Any], redis_url: str, prefix: str, name: str
) -> AsyncIterator[str]:
    settings = make_settings(
        redis_url=redis_url,
        redis_prefix=prefix,
        instance_id=name,
        jupiter_rps=10,
        dflow_rps=10_000,
        hashflow_rps=10_000,
        pyth_rps=10_000,
    )
    async with build_services(settings) as services, AsgiServer(build_app(services)) as server:
        yield server.url


async def _jupiter_status(client: httpx.AsyncClient, url: str, amount: int) -> str:
    response = await client.get(
        f"{url}/v1/quote", params={"inputMint": SOL, "outputMint": USDC, "amount": str(amount)}
    )
    assert response.status_code == 200, response.text
    return str(next(s for s in response.json()["sources"] if s["source"] == "jupiter")["status"])


async def test_a_breaker_opened_by_one_instance_spares_the_others(
    simnet: Any, bot_settings: Callable[..., Any], redis_url: str, redis_prefix: str
) -> None:
    """Instance A sees Jupiter fail and opens; instance B then skips Jupiter without calling it."""
    async with (
        _instance(bot_settings, redis_url, redis_prefix, "a") as url_a,
        _instance(bot_settings, redis_url, redis_prefix, "b") as url_b,
        httpx.AsyncClient(timeout=10) as client,
    ):
        await client.put(
            f"{simnet.endpoints.venues_url}/admin/faults", json={"scenario": "jupiter-down"}
        )
        statuses = [await _jupiter_status(client, url_a, 1_000_000 + i) for i in range(6)]
        assert statuses[-1] == "circuit_open"
        calls_before = len(simnet.faults.arrivals("jupiter"))
        status_b = await _jupiter_status(client, url_b, 2_000_000)
        assert status_b == "circuit_open"
        assert len(simnet.faults.arrivals("jupiter")) == calls_before


async def test_two_instances_together_stay_under_jupiters_plan(
    simnet: Any, bot_settings: Callable[..., Any], redis_url: str, redis_prefix: str
) -> None:
    """Two instances hammered at once never send Jupiter more than the shared 10 per second."""
    async with (
        _instance(bot_settings, redis_url, redis_prefix, "a") as url_a,
        _instance(bot_settings, redis_url, redis_prefix, "b") as url_b,
        httpx.AsyncClient(timeout=10) as client,
    ):

        async def hammer(url: str, offset: int) -> None:
            for i in range(60):
                await _jupiter_status(client, url, offset + i + 1)

        await asyncio.gather(
            *(hammer(u, 1_000_000 + k * 1000) for k, u in enumerate([url_a, url_b] * 3))
        )
        assert len(simnet.faults.arrivals("jupiter")) > 10
        assert simnet.faults.max_requests_in_window("jupiter", 1.0) <= 10


@pytest.fixture(autouse=True)
async def _cleanup(redis_url: str, redis_prefix: str) -> AsyncIterator[None]:
    """Both instances share this test's key prefix; its keys are deleted afterwards."""
    yield
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
