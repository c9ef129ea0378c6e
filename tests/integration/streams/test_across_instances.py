"""Two gateway instances behind one real Redis deliver the same stream, whichever one a client
is on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from websockets.asyncio.client import connect

from solbot.ops import Metrics
from solbot.streams import StreamHub
from tests.integration.streams.conftest import (
    SOL,
    USDC,
    GatewayFactory,
    recv_json,
    send_json,
    subscribe,
)

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str) -> AsyncIterator[Any]:
    client = redis_asyncio.from_url(redis_url, socket_timeout=2.0)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_two_instances_deliver_the_same_frames(
    gateway: GatewayFactory, redis: Any, redis_prefix: str
) -> None:
    """A price published on instance A reaches clients of A and B with the same seq and ts."""
    options = {"redis": redis, "redis_prefix": redis_prefix}
    async with gateway(**options) as a, gateway(**options) as b:
        async with connect(a.url) as on_a, connect(b.url) as on_b:
            await subscribe(on_a, "prices", [SOL])
            await subscribe(on_b, "prices", [SOL])
            for i in range(5):
                await a.hub.publish_price(SOL, f"150.{i}", "pyth", 1000 + i)
            from_a = [await recv_json(on_a) for _ in range(5)]
            from_b = [await recv_json(on_b) for _ in range(5)]
        assert from_a == from_b
        assert [m["seq"] for m in from_a] == [1, 2, 3, 4, 5]
        assert [m["price"] for m in from_b] == [f"150.{i}" for i in range(5)]


async def test_a_late_subscriber_on_another_instance_gets_the_snapshot(
    gateway: GatewayFactory, redis: Any, redis_prefix: str
) -> None:
    """Instance B never saw the price live, yet its new subscriber gets the last value at once,
    then the live stream without a gap or a duplicate."""
    options = {"redis": redis, "redis_prefix": redis_prefix}
    async with gateway(**options) as a, gateway(**options) as b:
        await a.hub.publish_price(USDC, "0.9999", "jupiter", None)
        await a.hub.publish_price(USDC, "1.0001", "jupiter", None)
        async with connect(b.url) as ws:
            await subscribe(ws, "prices", [USDC])
            snapshot = await recv_json(ws)
            assert (snapshot["price"], snapshot["seq"]) == ("1.0001", 2)
            await a.hub.publish_price(USDC, "1.0002", "jupiter", None)
            live = await recv_json(ws)
            assert (live["price"], live["seq"]) == ("1.0002", 3)


async def test_balances_cross_instances_for_their_owner_only(
    gateway: GatewayFactory, redis: Any, redis_prefix: str
) -> None:
    """A balance published by one instance reaches the owner connected to the other one."""
    wallet = "A1iceWa11et1111111111111111111111111111111"

    class Auth:
        async def authenticate(self, token: str) -> Any:
            class User:
                id = "user-1"

            return User()

    class Wallets:
        async def wallets_of(self, user_id: str) -> list[Any]:
            class Wallet:
                pubkey = wallet

            return [Wallet()] if user_id == "user-1" else []

    options = {"redis": redis, "redis_prefix": redis_prefix}
    async with gateway(**options) as a, gateway(auth=Auth(), wallets=Wallets(), **options) as b:
        await a.hub.publish_balance(wallet, SOL, 42, 7)
        async with connect(b.url) as ws:
            await send_json(ws, {"op": "auth", "token": "sbt_whatever", "id": 1})
            assert (await recv_json(ws))["type"] == "authenticated"
            await subscribe(ws, "balances", None)
            assert (await recv_json(ws))["amount"] == "42"
            await a.hub.publish_balance(wallet, USDC, 1_000_000, 8)
            update = await recv_json(ws)
            assert (update["mint"], update["amount"], update["seq"]) == (USDC, "1000000", 2)


async def test_an_instance_listens_to_an_asset_only_while_it_has_subscribers(
    gateway: GatewayFactory, redis: Any, redis_prefix: str
) -> None:
    """The Redis channel of an asset gains a listener when a local client subscribes and loses
    it once the last one left (after a short linger)."""
    channel = f"{redis_prefix}stream:prices:{SOL}"

    async def listeners() -> int:
        counts = await redis.pubsub_numsub(channel)
        return int(counts[0][1])

    async with gateway(redis=redis, redis_prefix=redis_prefix, idle_topic_linger_s=0.2) as gw:
        assert await listeners() == 0
        async with connect(gw.url) as ws:
            await subscribe(ws, "prices", [SOL])
            assert await listeners() == 1
            await send_json(ws, {"op": "unsubscribe", "channel": "prices", "assets": [SOL]})
            assert (await recv_json(ws))["type"] == "unsubscribed"
            async with asyncio.timeout(3.0):
                while await listeners() != 0:
                    await asyncio.sleep(0.05)
            await subscribe(ws, "prices", [SOL])  # and back again
            assert await listeners() == 1


async def test_a_hub_started_twice_reads_the_bus_once_and_stops_clean(
    redis: Any, redis_prefix: str
) -> None:
    """The composition root and the stream server both start the hub they share: one bus
    reader, one sweeper, and nothing left running after stop."""
    hub = StreamHub(metrics=Metrics(), redis=redis, redis_prefix=redis_prefix)
    await hub.start()
    await hub.start()
    names = [task.get_name() for task in asyncio.all_tasks()]
    assert names.count("stream-bus") == 1
    assert names.count("stream-sweep") == 1
    await hub.stop()
    await hub.stop()
    await asyncio.sleep(0)
    left = {task.get_name() for task in asyncio.all_tasks()} & {"stream-bus", "stream-sweep"}
    assert left == set()
