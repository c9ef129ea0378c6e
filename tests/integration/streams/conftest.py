"""A real gateway on an ephemeral port, and helpers for real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from solbot.ops import Metrics
from solbot.streams import StreamHub, StreamLimits, StreamServer

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


@dataclass
class Gateway:
    hub: StreamHub
    server: StreamServer
    metrics: Metrics

    @property
    def url(self) -> str:
        return self.server.url

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def gateway() -> GatewayFactory:
    """`async with gateway(limits=..., redis=..., auth=..., wallets=...) as gw:`"""

    @contextlib.asynccontextmanager
    async def start(
        *, limits: StreamLimits | None = None, shutdown_timeout_s: float = 2.0, **hub_options: Any
    ) -> AsyncIterator[Gateway]:
        metrics = Metrics()
        hub = StreamHub(metrics=metrics, limits=limits, **hub_options)
        server = StreamServer(hub, metrics, shutdown_timeout_s=shutdown_timeout_s)
        await server.start()
        try:
            yield Gateway(hub, server, metrics)
        finally:
            await server.stop()

    return start


async def recv_json(ws: ClientConnection, timeout_s: float = 3.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        raw = await ws.recv()
    message = orjson.loads(raw)
    assert isinstance(message, dict)
    return message


async def send_json(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def subscribe(
    ws: ClientConnection, channel: str, keys: list[str] | None, op_id: int = 1
) -> dict[str, Any]:
    """Subscribe and return the ack (snapshots, if any, follow it)."""
    message: dict[str, Any] = {"op": "subscribe", "channel": channel, "id": op_id}
    if keys is not None:
        message["assets" if channel == "prices" else "wallets"] = keys
    await send_json(ws, message)
    ack = await recv_json(ws)
    assert ack["type"] == "subscribed", ack
    return ack


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # polling an outside condition
            await asyncio.sleep(0.02)
