"""The composition root: Settings -> adapters -> services -> the API app.

The app's lifespan, each CLI command and the tests build the bot through here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp

from solbot.api import create_app
from solbot.api._accounts import accounts_router, current_user_dependency
from solbot.api._portfolio import portfolio_router
from solbot.api._quotes import quote_fast_handler, quotes_router
from solbot.api._trades import trades_router
from solbot.auth import AuthService
from solbot.cache import Cache, CacheConfig, CacheMetrics, RedisStore
from solbot.config import Settings
from solbot.domain import QuoteSource, SwapBuilder
from solbot.execution import FillReader, Lander, TradeExecutor
from solbot.keystore import Keystore, WalletService, load_master_key
from solbot.ledger import Ledger
from solbot.ops import LoopLag, Metrics, get_logger
from solbot.portfolio import (
    CacheLatestPrices,
    HoldingsReader,
    PortfolioService,
    build_portfolio_service,
)
from solbot.quotes import (
    GuardedSource,
    MarkBoard,
    MintDirectory,
    QuoteAggregator,
    QuoteBook,
    QuoteService,
    refresh_marks,
)
from solbot.resilience import (
    BreakerStateStore,
    CircuitBreaker,
    InMemoryBreakerStore,
    LatencyTracker,
    LocalRateLimiter,
    RateLimiter,
    RedisBreakerStore,
    RedisRateLimiter,
    RetryPolicy,
    SharedCircuitBreaker,
    Transition,
)
from solbot.rpc import PubSubClient, RpcClient
from solbot.streams import BalancePublisher, PricePublisher, StreamHub
from solbot.trading import (
    InProcessTradeEvents,
    LedgerTradeStore,
    SourceRequoter,
    TradeRunner,
    TradeService,
)
from solbot.venues import (
    DFlowClient,
    HashflowClient,
    JupiterClient,
    PythClient,
    VenueSession,
    build_http_client,
    build_venue_session,
)

__all__ = ["Services", "build_app", "build_services"]

_log = get_logger("solbot.bootstrap")
_RATE_WINDOW_S = 1.25


@dataclass(frozen=True, slots=True)
class _PriceClients:
    jupiter: JupiterClient
    pyth: PythClient


@dataclass(slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    http: httpx.AsyncClient  # JSON-RPC and the SSE price stream
    venues: VenueSession  # the venue adapters' HTTP
    rpc: RpcClient
    redis: Any | None
    quotes: QuoteService
    ledger: Ledger
    auth: AuthService
    wallets: WalletService
    pubsub: PubSubClient
    trade_events: InProcessTradeEvents
    trade_runner: TradeRunner
    trades: TradeService
    cache: Cache
    portfolio: PortfolioService
    hub: StreamHub


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _log_transition(transition: Transition) -> None:
    _log.warning(
        "circuit_transition",
        source=transition.source,
        from_state=transition.from_state.label,
        to_state=transition.to_state.label,
        reason=transition.reason,
    )


def _build_quotes(
    settings: Settings,
    http: VenueSession,
    rpc: RpcClient,
    redis: Any | None,
    metrics: Metrics,
    loop_lag: LoopLag,
    marks: MarkBoard,
) -> tuple[QuoteService, dict[str, SwapBuilder], dict[str, QuoteSource], _PriceClients]:
    """The quote service, the venues that build swaps (each also quotes, for a re-quote), and
    the price clients others share."""
    latency = LatencyTracker()
    store: BreakerStateStore = (
        RedisBreakerStore(redis, prefix=settings.redis_prefix, instance_id=settings.instance_id)
        if redis is not None
        else InMemoryBreakerStore()
    )
    jupiter = JupiterClient(
        http,
        settings.jupiter_url,
        price_url=settings.jupiter_price_url,
        api_key=settings.jupiter_api_key,
    )
    dflow = DFlowClient(http, settings.dflow_url, api_key=settings.dflow_api_key)
    hashflow = HashflowClient(http, settings.hashflow_url, api_key=settings.hashflow_api_key)
    pyth = PythClient(http, settings.pyth_url)
    clients: list[tuple[QuoteSource, int, float]] = [
        (jupiter, settings.jupiter_rps, 1.0),
        (dflow, settings.dflow_rps, 1.0),
        (hashflow, settings.hashflow_rps, 1.0),
        (pyth, settings.pyth_rps, 0.5),
    ]
    sources: dict[str, GuardedSource] = {}
    for client, rps, attempt_cap_s in clients:
        # `rps` grants per 1.25 s, not per second: 20 % headroom so that transit jitter (a grant
        # taken at t, its request arriving later than the next one's) never shows the venue
        # more than its plan in any one second.
        limiter: RateLimiter = (
            RedisRateLimiter(redis, client.name, rps, _RATE_WINDOW_S, prefix=settings.redis_prefix)
            if redis is not None
            else LocalRateLimiter(rps, _RATE_WINDOW_S)
        )
        breaker = SharedCircuitBreaker(
            CircuitBreaker(client.name, on_transition=_log_transition),
            store,
            check_interval_s=0.25 if redis is not None else 0.0,
        )
        sources[client.name] = GuardedSource(
            client,
            breaker=breaker,
            limiter=limiter,
            retry=RetryPolicy(max_attempts=3),
            attempt_timeout_cap_s=attempt_cap_s,
            latency=latency,
            metrics=metrics,
            loop_lag=loop_lag.recent_max_s,
        )
    service = QuoteService(
        QuoteAggregator(sources, latency=latency, marks=marks),
        QuoteBook(wall_clock=time.time),
        MintDirectory(rpc),
        metrics,
        deadline_ms=settings.quote_deadline_ms,
        max_in_flight=settings.quote_max_in_flight,
        loop_lag=loop_lag.sustained_s,
    )
    builders: dict[str, SwapBuilder] = {c.name: c for c in (jupiter, dflow, hashflow)}
    requotes: dict[str, QuoteSource] = {c.name: c for c in (jupiter, dflow, hashflow)}
    return service, builders, requotes, _PriceClients(jupiter, pyth)


def _build_executor(
    settings: Settings,
    rpc: RpcClient,
    pubsub: PubSubClient,
    ledger: Ledger,
    builders: dict[str, SwapBuilder],
    sources: dict[str, QuoteSource],
    marks: MarkBoard,
) -> TradeExecutor:
    poll_s = settings.trade_poll_ms / 1000
    lander = Lander(
        rpc,
        pubsub,
        rebroadcast_interval_s=settings.trade_rebroadcast_ms / 1000,
        poll_interval_s=poll_s,
        max_landing_s=settings.trade_max_landing_s,
    )
    return TradeExecutor(
        rpc=rpc,
        store=LedgerTradeStore(ledger.trades, usd_prices=marks.usd_prices),
        builders=builders,
        lander=lander,
        fill_reader=FillReader(rpc, poll_interval_s=min(poll_s, 0.2)),
        requoter=SourceRequoter(sources),
    )


@contextlib.asynccontextmanager
async def build_services(settings: Settings) -> AsyncIterator[Services]:
    """Every long-lived resource of one bot instance, closed in reverse order on exit."""
    metrics = Metrics()
    async with contextlib.AsyncExitStack() as stack:
        http = build_http_client(settings, max_connections=400, max_keepalive_connections=200)
        stack.push_async_callback(http.aclose)
        venues = build_venue_session(settings, max_connections=400)
        stack.push_async_callback(venues.aclose)
        redis: Any | None = None
        if settings.redis_url is not None:
            import redis.asyncio as redis_asyncio

            redis = redis_asyncio.from_url(
                settings.redis_url.get_secret_value(),
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                health_check_interval=10,
            )
            stack.push_async_callback(redis.aclose)
        rpc = RpcClient(http, settings.rpc_url)
        loop_lag = LoopLag(metrics.event_loop_lag)
        loop_lag.start()
        stack.push_async_callback(loop_lag.stop)
        marks = MarkBoard()
        master_key = load_master_key(
            settings.master_key,
            simnet_key_path=Path(settings.simnet_data_dir) / "master.key"
            if settings.simnet
            else None,
        )
        ledger = await stack.enter_async_context(Ledger.open(settings.database_url))
        pubsub = await stack.enter_async_context(
            PubSubClient(settings.rpc_ws_url, connect_timeout_s=5.0)
        )
        quotes, builders, sources, prices = _build_quotes(
            settings, venues, rpc, redis, metrics, loop_lag, marks
        )
        marks_task = asyncio.create_task(refresh_marks(marks, prices.pyth), name="oracle-marks")
        stack.push_async_callback(_cancel, marks_task)
        wallets = WalletService(Keystore(master_key), ledger.wallets)
        events = InProcessTradeEvents()
        runner = TradeRunner(
            _build_executor(settings, rpc, pubsub, ledger, builders, sources, marks),
            ledger.trades,
            wallets,
            events,
            max_concurrency=settings.trade_concurrency,
        )
        # Trades stop before the connections they use close (the stack unwinds in reverse).
        stack.push_async_callback(runner.aclose)
        await runner.start()
        cache_store = (
            await stack.enter_async_context(
                RedisStore.from_url(
                    settings.redis_url.get_secret_value(),
                    client_name=f"{settings.instance_id}:cache",
                )
            )
            if settings.redis_url is not None
            else None
        )
        cache = await stack.enter_async_context(
            Cache(
                cache_store,
                config=CacheConfig(prefix=settings.redis_prefix, instance_id=settings.instance_id),
                metrics=CacheMetrics(metrics.registry),
            )
        )
        latest_prices = CacheLatestPrices(cache)
        portfolio = await stack.enter_async_context(
            build_portfolio_service(
                cache=cache,
                rpc=rpc,
                wallets=ledger.wallets,
                trades=ledger.trades,
                jupiter=prices.jupiter,
                pyth=prices.pyth,
                latest_prices=latest_prices,
                pubsub=pubsub,
                trade_events=events,
                ttl_s=settings.portfolio_ttl_s,
                # Without a shared tier the in-process copy is the only one: keep it as long.
                l1_ttl_s=2.0 if cache_store is not None else settings.portfolio_ttl_s,
            )
        )
        auth = AuthService(ledger.users)
        hub = StreamHub(
            metrics=metrics,
            redis=redis,
            redis_prefix=settings.redis_prefix,
            auth=auth,
            wallets=ledger.wallets,
        )
        await hub.start()
        stack.push_async_callback(hub.stop)
        events.subscribe(hub.on_trade_event)
        balances = BalancePublisher(hub, HoldingsReader(rpc).read)
        events.subscribe(balances.on_trade_event)
        stack.push_async_callback(balances.aclose)

        async def remember_price(mint: str, price: str, source: str, slot: int | None) -> None:
            await latest_prices.put(mint, price, source=source, slot=slot)

        await stack.enter_async_context(
            PricePublisher(
                hub,
                http=http,
                pyth_url=settings.pyth_url,
                fallback=prices.jupiter,
                redis=redis,
                redis_prefix=settings.redis_prefix,
                instance_id=settings.instance_id,
                listeners=[remember_price],
            )
        )
        yield Services(
            settings=settings,
            metrics=metrics,
            http=http,
            venues=venues,
            rpc=rpc,
            redis=redis,
            quotes=quotes,
            ledger=ledger,
            auth=auth,
            wallets=wallets,
            pubsub=pubsub,
            trade_events=events,
            trade_runner=runner,
            trades=TradeService(
                trades=ledger.trades,
                wallets=wallets,
                quotes=quotes,
                rpc=rpc,
                runner=runner,
            ),
            cache=cache,
            portfolio=portfolio,
            hub=hub,
        )


def build_app(services: Services) -> ASGIApp:
    """The HTTP API over already-built services."""

    async def rpc_ready() -> str | None:
        result = await services.rpc.call("getHealth", [], timeout_s=2.0)
        return None if result == "ok" else f"rpc answered {result!r}"

    async def database_ready() -> str | None:
        await services.ledger.database.ping()
        return None

    checks = {"rpc": rpc_ready, "database": database_ready}
    if services.redis is not None:
        redis = services.redis

        async def redis_ready() -> str | None:
            return None if await redis.ping() else "redis did not answer PING"

        checks["redis"] = redis_ready
    return create_app(
        metrics=services.metrics,
        readiness_checks=checks,
        routers=[
            quotes_router(services.quotes),
            accounts_router(services.auth, services.wallets),
            trades_router(services.auth, services.trades),
            portfolio_router(services.portfolio, current_user_dependency(services.auth)),
        ],
        fast_routes={"/v1/quote": quote_fast_handler(services.quotes)},
    )
