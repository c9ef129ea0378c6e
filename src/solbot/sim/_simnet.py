"""The whole simnet in one event loop: chain + slot clock, market, RPC, PubSub, venues, faults."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from pathlib import Path

from solbot.config import SimnetSettings, simnet_urls
from solbot.ops import AsgiServer
from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook
from solbot.sim.market import Market
from solbot.sim.rpc import PubSubServer, create_rpc_app, run_slot_clock
from solbot.sim.venues import create_venues_app

__all__ = ["Simnet", "SimnetEndpoints"]


@dataclass(frozen=True, slots=True)
class SimnetEndpoints:
    rpc_url: str
    ws_url: str
    venues_url: str

    def settings_overrides(self, host: str) -> dict[str, str]:
        """Settings fields that point the bot at this simnet."""
        rpc_port = int(self.rpc_url.rsplit(":", 1)[1])
        ws_port = int(self.ws_url.rsplit(":", 1)[1])
        venues_port = int(self.venues_url.rsplit(":", 1)[1])
        return simnet_urls(
            SimnetSettings(host=host, rpc_port=rpc_port, ws_port=ws_port, venues_port=venues_port)
        )


class Simnet:
    """Starts and stops every part of the simnet; `async with Simnet(settings) as sim:`."""

    def __init__(self, settings: SimnetSettings) -> None:
        self.settings = settings
        self.chain = SimChain()
        self.faults = FaultBook(rng=random.Random(settings.seed + 1))  # noqa: S311 - simulation
        self.market = Market(
            self.chain, self.faults, seed=settings.seed, data_dir=Path(settings.data_dir)
        )
        self._rpc = AsgiServer(
            create_rpc_app(self.chain, self.faults), settings.host, settings.rpc_port
        )
        self._pubsub = PubSubServer(self.chain, self.faults)
        self._venues = AsgiServer(
            create_venues_app(self.chain, self.market, self.faults),
            settings.host,
            settings.venues_port,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.endpoints: SimnetEndpoints | None = None

    async def start(self) -> SimnetEndpoints:
        self.market.setup()
        host = self.settings.host
        rpc_port = await self._rpc.start()
        ws_port = await self._pubsub.start(host, self.settings.ws_port)
        venues_port = await self._venues.start()
        self._tasks = [
            asyncio.create_task(
                run_slot_clock(self.chain, self.settings.slot_ms), name="slot-clock"
            ),
            asyncio.create_task(
                self.market.run(
                    trades_per_s=self.settings.background_trades_per_s,
                    tick_ms=self.settings.price_tick_ms,
                ),
                name="market",
            ),
        ]
        self.endpoints = SimnetEndpoints(
            rpc_url=f"http://{host}:{rpc_port}",
            ws_url=f"ws://{host}:{ws_port}",
            venues_url=f"http://{host}:{venues_port}",
        )
        return self.endpoints

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._venues.stop()
        await self._pubsub.stop()
        await self._rpc.stop()

    async def __aenter__(self) -> Simnet:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
