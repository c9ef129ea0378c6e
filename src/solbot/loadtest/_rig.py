"""A rig to aim the load test at: the real gateway (StreamHub + StreamServer) with a synthetic
price publisher, users for the private channel, and a trade hook that changes a balance.

It is what the tool's own tests and benchmarks run against, and what an engineer uses to check
a generator change before pointing it at staging. The gateway is the production code; only its
inputs are synthetic: prices at a fixed rate over `generated_mints(...)`, users whose tokens
are `rig-token-<n>` with one wallet each, and `POST /hook {"wallet"}` publishing that wallet's
new balance (standing in for a trade landing). `stall_ms` blocks the gateway's loop for that
long every `stall_every_s`: a deliberately slowed gateway.

With `redis_url` the gateway relays from Redis and the prices are published by another hub on
a thread of its own (as an ingest instance would): `ts` is then stamped outside the gateway's
loop, so time the gateway spends blocked shows in the measured latency. Publishing inside the
gateway's own loop cannot show it: a blocked loop publishes late and stamps late.

    async with PriceRig(mints, rate=200.0, users=50) as rig:
        rig.stream_url, rig.metrics_url, rig.hook_url, rig.write_users(path)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from solbot.loadtest._scenario import generated_mints

__all__ = ["PriceRig"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BALANCE_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


@dataclass(frozen=True, slots=True)
class _User:
    id: str


@dataclass(frozen=True, slots=True)
class _Wallet:
    pubkey: str


class _RigUsers:
    """Authenticator and WalletLookup of the rig's synthetic users."""

    def __init__(self, count: int) -> None:
        wallets = generated_mints(count, seed=7)
        self.tokens = {f"rig-token-{i}": f"rig-user-{i}" for i in range(count)}
        self.wallets = {f"rig-user-{i}": wallets[i] for i in range(count)}

    async def authenticate(self, token: str) -> _User:
        from solbot.errors import Unauthorized

        user = self.tokens.get(token)
        if user is None:
            raise Unauthorized("unknown token")
        return _User(user)

    async def wallets_of(self, user_id: str) -> Sequence[_Wallet]:
        wallet = self.wallets.get(user_id)
        return [] if wallet is None else [_Wallet(wallet)]


class PriceRig:
    def __init__(
        self,
        mints: Sequence[str],
        *,
        rate: float = 100.0,
        users: int = 0,
        stall_ms: float = 0.0,
        stall_every_s: float = 0.5,
        max_connections: int = 12_000,
        new_connections_per_s: float = 1_000.0,
        host: str = "127.0.0.1",
        port: int = 0,
        redis_url: str | None = None,
        redis_prefix: str = "solbot-rig:",
    ) -> None:
        self.mints = list(mints)
        self.rate = rate
        self.stall_ms = stall_ms
        self.stall_every_s = stall_every_s
        self._users = _RigUsers(users)
        self._user_count = users
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._new_per_s = new_connections_per_s
        self._tasks: list[asyncio.Task[None]] = []
        self._server: Any = None
        self._hook: Any = None
        self.published = 0
        self.balances_published = 0
        self.hub: Any = None
        self._redis_url = redis_url
        self._redis_prefix = redis_prefix
        self._redis: Any = None
        self._thread: threading.Thread | None = None
        self._thread_stop = threading.Event()

    @property
    def stream_url(self) -> str:
        return str(self._server.url)

    @property
    def metrics_url(self) -> str:
        return f"http://{self._host}:{self._server.port}/metrics"

    @property
    def hook_url(self) -> str:
        return f"{self._hook.url}/hook"

    def write_users(self, path: Path) -> Path:
        """The users file a balances workload reads: `{"token", "wallets"}` per line."""
        lines = [
            orjson.dumps({"token": token, "wallets": [self._users.wallets[user]]}).decode()
            for token, user in self._users.tokens.items()
        ]
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start(self) -> None:
        from solbot.ops import AsgiServer, Metrics
        from solbot.streams import StreamHub, StreamLimits, StreamServer

        # Its own registry comes with the process collector (CPU, RSS and fds on /metrics, as
        # the load test samples them). A second one doubled every scrape's cost: counting the
        # fds lists /proc/self/fd, ~10 ms at 10,000 connections, in the gateway's loop.
        metrics = Metrics()
        limits = StreamLimits(
            max_connections=self._max_connections,
            new_connections_per_s=self._new_per_s,
            new_connections_burst=int(max(self._new_per_s, 100)),
        )
        if self._redis_url is not None:
            import redis.asyncio as redis_asyncio

            self._redis = redis_asyncio.from_url(self._redis_url, socket_timeout=5.0)
        self.hub = StreamHub(
            metrics=metrics,
            limits=limits,
            auth=self._users,
            wallets=self._users,
            redis=self._redis,
            redis_prefix=self._redis_prefix,
        )
        self._server = StreamServer(self.hub, metrics, self._host, self._port)
        await self._server.start()
        self._hook = AsgiServer(self._hook_app(), self._host, 0, ws_ping_interval=None)
        await self._hook.start()
        loop = asyncio.get_running_loop()
        if self.rate > 0 and self.mints:
            if self._redis_url is None:
                self._tasks.append(loop.create_task(self._publish(self.hub)))
            else:
                self._thread = threading.Thread(
                    target=self._publisher_thread, name="rig-publisher", daemon=True
                )
                self._thread.start()
        if self.stall_ms > 0:
            self._tasks.append(loop.create_task(self._stall()))

    def _hook_app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        amounts: dict[str, int] = {}

        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            wallet = str(body.get("wallet", ""))
            if wallet not in self._users.wallets.values():
                return JSONResponse({"error": {"code": "UNKNOWN_WALLET"}}, status_code=404)
            amounts[wallet] = amounts.get(wallet, 1_000_000) + 1_000
            await self.hub.publish_balance(wallet, _BALANCE_MINT, amounts[wallet], None)
            self.balances_published += 1
            return JSONResponse({"wallet": wallet, "amount": str(amounts[wallet])})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def _publisher_thread(self) -> None:
        async def run() -> None:
            import redis.asyncio as redis_asyncio

            from solbot.ops import Metrics
            from solbot.streams import StreamHub

            assert self._redis_url is not None
            redis = redis_asyncio.from_url(self._redis_url, socket_timeout=5.0)
            hub = StreamHub(metrics=Metrics(), redis=redis, redis_prefix=self._redis_prefix)
            task = asyncio.get_running_loop().create_task(self._publish(hub))
            try:
                while not self._thread_stop.is_set():  # noqa: ASYNC110 - a thread's flag
                    await asyncio.sleep(0.05)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await redis.aclose()

        asyncio.run(run())

    async def _publish(self, hub: Any) -> None:
        """`rate` updates a second round-robin over the mints, open loop (owed updates go out
        at once when the loop falls behind: the load stays what was asked)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        index = 0
        while True:
            due = int((loop.time() - started) * self.rate) + 1
            while index < due:
                mint = self.mints[index % len(self.mints)]
                index += 1
                await hub.publish_price(mint, f"{100 + index % 997}.{index % 1000:03d}", "rig")
                self.published += 1
            await asyncio.sleep(max(0.002, started + index / self.rate - loop.time()))

    async def _stall(self) -> None:
        while True:
            await asyncio.sleep(self.stall_every_s)
            time.sleep(self.stall_ms / 1000.0)  # noqa: ASYNC251 - the point: a blocked loop

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._thread is not None:
            self._thread_stop.set()
            await asyncio.to_thread(self._thread.join, 10.0)
            self._thread = None
        if self._hook is not None:
            await self._hook.stop()
        if self._server is not None:
            await self._server.stop()
        if self._redis is not None:
            await self._redis.aclose()

    async def __aenter__(self) -> PriceRig:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
