"""With Redis configured, a breaker opening and the venue's rate limit hold for every instance.

Two `solbot serve` processes and `solbot sim` in its own process, sharing one real Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.conftest import BotProcess, SimnetProcess

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
PLAN_RPS = 10

pytestmark = pytest.mark.redis


@pytest.fixture
def two_bots(
    start_bot: Callable[..., BotProcess], redis_url: str, redis_prefix: str
) -> tuple[BotProcess, BotProcess]:
    settings = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "jupiter_rps": str(PLAN_RPS),
        "dflow_rps": "10000",
        "hashflow_rps": "10000",
        "pyth_rps": "10000",
    }
    return start_bot(instance_id="a", **settings), start_bot(instance_id="b", **settings)


async def _jupiter_status(client: httpx.AsyncClient, url: str, amount: int) -> str:
    response = await client.get(
        f"{url}/v1/quote", params={"inputMint": SOL, "outputMint": USDC, "amount": str(amount)}
    )
    assert response.status_code == 200, response.text
    return str(next(s for s in response.json()["sources"] if s["source"] == "jupiter")["status"])


async def _traffic(client: httpx.AsyncClient, simnet: SimnetProcess) -> dict[str, int]:
    response = await client.get(f"{simnet.venues_url}/admin/traffic", params={"window_s": 1.0})
    return dict(response.json()["targets"]["jupiter:quote"])


async def test_a_breaker_opened_by_one_instance_spares_the_others(
    simnet_process: SimnetProcess, two_bots: tuple[BotProcess, BotProcess]
) -> None:
    """Instance A sees Jupiter fail and opens; instance B then skips Jupiter without calling it."""
    bot_a, bot_b = two_bots
    async with httpx.AsyncClient(timeout=10) as client:
        await client.put(
            f"{simnet_process.venues_url}/admin/faults", json={"scenario": "jupiter-down"}
        )
        statuses = [await _jupiter_status(client, bot_a.url, 1_000_000 + i) for i in range(6)]
        assert statuses[-1] == "circuit_open"
        calls_before = (await _traffic(client, simnet_process))["requests"]
        assert await _jupiter_status(client, bot_b.url, 2_000_000) == "circuit_open"
        assert (await _traffic(client, simnet_process))["requests"] == calls_before


async def test_two_instances_together_stay_under_jupiters_plan(
    simnet_process: SimnetProcess, two_bots: tuple[BotProcess, BotProcess]
) -> None:
    """Two instances hammered at once for 3 s (more than two of the limiter's 1.25 s windows,
    however fast the machine answers) never send Jupiter more than the shared plan per second."""
    urls = [bot.url for bot in two_bots]
    loop = asyncio.get_running_loop()
    until = loop.time() + 3.0
    async with httpx.AsyncClient(timeout=10) as client:

        async def hammer(url: str, offset: int) -> None:
            amount = offset
            while loop.time() < until:
                amount += 1
                await _jupiter_status(client, url, amount)

        await asyncio.gather(*(hammer(url, 1_000_000 + k * 1000) for k, url in enumerate(urls * 3)))
        traffic = await _traffic(client, simnet_process)
    assert traffic["requests"] > 2 * PLAN_RPS  # the limit was met in more than two windows
    assert traffic["maxInWindow"] <= PLAN_RPS


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
