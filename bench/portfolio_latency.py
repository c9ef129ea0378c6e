"""`GET /v1/portfolio/{wallet}` latency, warm and cold, for a wallet of 20 tokens on the simnet.

    .venv/bin/python bench/portfolio_latency.py [--warm 3000] [--cold 300] [--redis-url URL|none]

Two processes: a child runs the simnet in-process (so it can mint 20 tokens straight onto its
chain: SOL plus USDC, USDT, BONK, JUP, WIF, NEWT and 14 fresh SPL mints, 21 holdings) with the
bot on it (ledger on SQLite, cache L2 on Redis, the portfolio router behind Bearer auth); this
process is the client, one keep-alive connection, one request at a time, timed with
`perf_counter` from send to the last byte of the answer.

- warm: the same wallet read over and over (after one computing read): L1 hits, with an L2
  read whenever the 2 s L1 copy lapses.
- cold: before each timed read the wallet's tag is invalidated (an untimed POST to a bench-only
  route of the child), so every timed read computes: three RPC calls to the simnet for the
  holdings, the streamed-price lookups in the cache, one Jupiter Price v3 call, one Pyth call for
  what Jupiter cannot price, valuation, and the write to both tiers.
Each answer's `cache.tier` is tallied, so the figures say what they measured.

The simnet shares the child's event loop with the bot: its RPC and venue work is charged to the
cold figure (a conservative setup; a real RPC node is another machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY = "READY "
TOKENS = 20  # SPL tokens besides native SOL


def percentile(ordered: Sequence[float], p: float) -> float:
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# ---- the child: simnet + bot ------------------------------------------------------------------


async def _until_signalled() -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _simnet(args: argparse.Namespace) -> None:
    """The simnet, plus `POST /fund/{wallet}`: 25 SOL and 20 SPL tokens minted onto its chain."""
    from fastapi import FastAPI
    from solders.keypair import Keypair
    from solders.pubkey import Pubkey

    from solbot.api._json import JSONBytes
    from solbot.config import SimnetSettings
    from solbot.domain import KNOWN_TOKENS
    from solbot.ops import AsgiServer
    from solbot.sim import Simnet

    settings = SimnetSettings(
        rpc_port=0,
        ws_port=0,
        venues_port=0,
        background_trades_per_s=0,
        data_dir=str(Path(args.data_dir) / "simnet"),
    )
    async with Simnet(settings) as simnet:
        assert simnet.endpoints is not None
        chain = simnet.chain
        mints = [Pubkey.from_string(t.mint) for t in KNOWN_TOKENS if t.symbol != "SOL"]
        mints.append(Pubkey.from_string(simnet.market.newt_mint))
        while len(mints) < TOKENS:
            fresh = Keypair().pubkey()
            chain.create_mint(fresh, 6, None)
            mints.append(fresh)
        fund = FastAPI()

        @fund.post("/fund/{wallet}")
        async def fund_wallet(wallet: str) -> JSONBytes:
            owner = Pubkey.from_string(wallet)
            chain.airdrop(owner, 25 * 10**9)
            for i, mint in enumerate(mints):
                decimals = chain.mint_decimals(mint) or 6
                chain.credit_tokens(Keypair().pubkey(), mint, owner, (i + 1) * 10**decimals)
            return JSONBytes({"tokens": len(mints)})

        async with AsgiServer(fund) as server:
            overrides = simnet.endpoints.settings_overrides("127.0.0.1")
            ready = {"settings": overrides, "fund_url": server.url}
            print(READY + json.dumps(ready), flush=True)
            await _until_signalled()


async def _bot(args: argparse.Namespace) -> None:
    """The bot on that simnet: portfolio router behind auth, one user with one wallet."""
    from fastapi import APIRouter

    from solbot.api import create_app
    from solbot.api._accounts import accounts_router, current_user_dependency
    from solbot.api._json import JSONBytes
    from solbot.api._portfolio import portfolio_router
    from solbot.bootstrap import build_services
    from solbot.cache import Cache, CacheConfig, CacheMetrics, RedisStore
    from solbot.config import load_settings
    from solbot.ops import AsgiServer, configure_logging
    from solbot.portfolio import build_portfolio_service
    from solbot.venues import JupiterClient, PythClient

    data = Path(args.data_dir)
    async with contextlib.AsyncExitStack() as stack:
        settings = load_settings(
            **json.loads(args.simnet_settings),
            simnet=True,
            simnet_data_dir=str(data / "bot"),
            database_url=f"sqlite+aiosqlite:///{data / 'ledger.db'}",
            redis_url=None,
            log_level=args.log_level,
        )
        configure_logging(settings.log_level)  # as `solbot serve` does: JSON lines to stdout
        services = await stack.enter_async_context(build_services(settings))
        store = None
        if args.redis_url != "none":
            store = await stack.enter_async_context(RedisStore.from_url(args.redis_url))
        cache = await stack.enter_async_context(
            Cache(
                store,
                config=CacheConfig(prefix=args.prefix, instance_id="bench-bot"),
                metrics=CacheMetrics(),
            )
        )
        portfolio = await stack.enter_async_context(
            build_portfolio_service(
                cache=cache,
                rpc=services.rpc,
                wallets=services.ledger.wallets,
                trades=services.ledger.trades,
                jupiter=JupiterClient(
                    services.venues, settings.jupiter_url, price_url=settings.jupiter_price_url
                ),
                pyth=PythClient(services.venues, settings.pyth_url),
                pubsub=services.pubsub,
                trade_events=services.trade_events,
            )
        )
        bench = APIRouter()

        @bench.post("/bench/invalidate/{wallet}")
        async def invalidate(wallet: str) -> JSONBytes:
            await portfolio.invalidate(wallet)
            return JSONBytes({"ok": True})

        app = create_app(
            metrics=services.metrics,
            routers=[
                accounts_router(services.auth, services.wallets),
                portfolio_router(portfolio, current_user_dependency(services.auth)),
                bench,
            ],
        )
        server = await stack.enter_async_context(AsgiServer(app))
        user, token = await services.auth.create_user(f"bench-{uuid.uuid4().hex[:8]}")
        wallet = (await services.wallets.create_wallet(user.id)).pubkey
        print(READY + json.dumps({"url": server.url, "token": token, "wallet": wallet}), flush=True)
        await _until_signalled()


# ---- the client -------------------------------------------------------------------------------


SERVER_MS: list[float] = []
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
_SERVER_TIMING = re.compile(rb"\r\nserver-timing: *app;dur=([\d.]+)", re.IGNORECASE)


class RawClient:
    """HTTP/1.1 over one keep-alive connection, a fraction of httpx's CPU per request (on two
    shared cores the load generator must not blur what it measures)."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._host, self._port, self._token = host, int(port), token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str) -> tuple[int, bytes, float | None]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Authorization: Bearer {self._token}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = _CONTENT_LENGTH.search(head)
        if length is None:
            raise RuntimeError(f"answer without content-length: {head[:200]!r}")
        body = await self._reader.readexactly(int(length.group(1)))
        timing = _SERVER_TIMING.search(head)
        return int(head[9:12]), body, float(timing.group(1)) if timing else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


async def _timed(client: RawClient, path: str) -> tuple[float, str, int]:
    started = time.perf_counter()
    status, body, server_ms = await client.request("GET", path)
    elapsed = time.perf_counter() - started
    answer = json.loads(body)
    tier = answer["cache"]["tier"] if status == 200 else f"error {status}"
    if server_ms is not None:
        SERVER_MS.append(server_ms)
    return elapsed * 1000, tier, len(answer.get("holdings", []))


def _line(name: str, samples: list[float], server: list[float], tiers: Counter[str]) -> str:
    ordered, in_server = sorted(samples), sorted(server)
    tally = ", ".join(f"{tier} {count}" for tier, count in tiers.most_common())
    return (
        f"| {name} | {len(ordered)} | {percentile(ordered, 50):.2f} | "
        f"{percentile(ordered, 99):.2f} | {ordered[-1]:.2f} | {percentile(in_server, 50):.1f} | "
        f"{percentile(in_server, 99):.1f} | {tally} |"
    )


async def _measure(ready: dict[str, Any], warm_n: int, cold_n: int) -> list[str]:
    path = f"/v1/portfolio/{ready['wallet']}"
    client = RawClient(ready["url"], ready["token"])
    try:
        first_ms, first_tier, holdings = await _timed(client, path)
        baseline: list[float] = []
        for _ in range(200):
            started = time.perf_counter()
            await client.request("GET", "/healthz")
            baseline.append((time.perf_counter() - started) * 1000)
        baseline.sort()
        for _ in range(50):  # warm up the connection and the interpreter's caches
            await _timed(client, path)
        warm: list[float] = []
        warm_tiers: Counter[str] = Counter()
        SERVER_MS.clear()
        for _ in range(warm_n):
            ms, tier, _h = await _timed(client, path)
            warm.append(ms)
            warm_tiers[tier] += 1
        warm_server = list(SERVER_MS)
        cold: list[float] = []
        cold_tiers: Counter[str] = Counter()
        cold_server: list[float] = []
        for _ in range(cold_n):
            await client.request("POST", f"/bench/invalidate/{ready['wallet']}")
            SERVER_MS.clear()
            ms, tier, _h = await _timed(client, path)
            cold_server.extend(SERVER_MS)
            cold.append(ms)
            cold_tiers[tier] += 1
    finally:
        await client.close()
    return [
        f"wallet holdings: {holdings} (SOL + {holdings - 1} SPL tokens); "
        f"first read {first_ms:.1f} ms ({first_tier})",
        "",
        f"baseline GET /healthz on the same connection: p50 {percentile(baseline, 50):.2f} ms, "
        f"p99 {percentile(baseline, 99):.2f} ms",
        "",
        "| read | requests | p50 ms | p99 ms | max ms | server p50 ms | server p99 ms "
        "| cache tier of the answers |",
        "|---|---|---|---|---|---|---|---|",
        _line("warm", warm, warm_server, warm_tiers),
        _line("cold (tag invalidated before each)", cold, cold_server, cold_tiers),
    ]


def _start(mode: str, argv: list[str], data: str) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLBOT_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    log_path = Path(data) / f"{mode}.log"
    with log_path.open("w") as log_file:
        child = subprocess.Popen(
            [sys.executable, __file__, mode, "--data-dir", data, *argv],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    return child, log_path


def _stop(child: subprocess.Popen[str]) -> None:
    child.terminate()
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()


async def _fund(url: str, wallet: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /fund/{wallet} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    if head[9:12] != b"200":
        raise RuntimeError(f"funding failed: {head!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="client", choices=("client", "simnet", "bot"))
    parser.add_argument("--warm", type=int, default=3000)
    parser.add_argument("--cold", type=int, default=300)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--log-level", default="info", help="the bot's, as SOLBOT_LOG_LEVEL")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--simnet-settings", default="{}")
    args = parser.parse_args(argv)
    if args.mode == "simnet":
        asyncio.run(_simnet(args))
        return
    if args.mode == "bot":
        asyncio.run(_bot(args))
        return
    prefix = args.prefix or f"bench-portfolio:{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="bench-portfolio-") as data:
        simnet, simnet_log = _start("simnet", [], data)
        try:
            sim = _wait_ready(simnet, simnet_log)
            bot_argv = [
                *("--redis-url", args.redis_url, "--prefix", prefix),
                *("--log-level", args.log_level, "--simnet-settings", json.dumps(sim["settings"])),
            ]
            bot, bot_log = _start("bot", bot_argv, data)
            try:
                ready = _wait_ready(bot, bot_log)
                asyncio.run(_fund(sim["fund_url"], ready["wallet"]))
                try:
                    lines = asyncio.run(_measure(ready, args.warm, args.cold))
                except Exception:
                    sys.stderr.write(bot_log.read_text()[-4000:])
                    raise
            finally:
                _stop(bot)
        finally:
            _stop(simnet)
        if args.redis_url != "none":
            asyncio.run(_clean(args.redis_url, prefix))
    where = f"Redis {args.redis_url}" if args.redis_url != "none" else "none (L1 only)"
    sys.stdout.write(f"L2: {where}\n" + "\n".join(lines) + "\n")


def _wait_ready(child: subprocess.Popen[str], log_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if line.startswith(READY):
                ready: dict[str, Any] = json.loads(line[len(READY) :])
                return ready
        if child.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the bench bot did not start:\n{log_path.read_text()[-4000:]}")


async def _clean(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    main()
