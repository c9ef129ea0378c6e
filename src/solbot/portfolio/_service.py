"""The portfolio service: a wallet's value and P&L, computed once per change across instances.

Both answers live in the two-tier cache under `portfolio:<wallet>` and `pnl:<wallet>:<window>`,
tagged `wallet:<wallet>`. A settled trade (`on_trade_event`) or a balance change of the wallet
(`on_balance_change`, fed by the `BalanceWatcher`) invalidates the tag on every instance, so the
next read is fresh; prices move without invalidating, so a value is at most `ttl_s` old (and
within `grace_s` a stale one is served while one instance recomputes).

Each answer carries a `cache` block: `tier` is `l1` (this process's copy), `l2` (read from the
shared tier) or `computed` (this request's computation produced it), `ageMs` how long ago the
value was computed, `stale` when it is past its TTL (served while being refreshed).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any, Protocol

from solders.pubkey import Pubkey

from solbot.cache import Cache
from solbot.domain import token_by_mint
from solbot.errors import InvalidRequest, NotFound
from solbot.ops import get_logger
from solbot.portfolio._fills import TradeLike, fill_from_trade
from solbot.portfolio._holdings import ChainHoldings, HoldingsReader
from solbot.portfolio._pnl import SOL_MINT, TokenPnl, compute_pnl
from solbot.portfolio._prices import PriceResolver, ResolvedPrice
from solbot.portfolio._watch import BalanceWatcher

__all__ = [
    "PNL_WINDOWS",
    "PortfolioService",
    "TradeHistory",
    "WalletOwners",
    "check_wallet",
    "parse_window",
]

_log = get_logger("solbot.portfolio")

#: The P&L windows the API accepts, and how far back each reaches (None: since the first fill).
PNL_WINDOWS: Mapping[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
_MAX_FILLS = 500  # the ledger's page: more trades than this are flagged as truncated
_SIGNIFICANT = Context(prec=18)


class WalletOwners(Protocol):
    """Who owns a wallet: `solbot.ledger.WalletRepository.wallet_of`."""

    async def wallet_of(self, user_id: str, pubkey: str) -> object | None: ...


class TradeHistory(Protocol):
    """A wallet's trades, newest first: `solbot.ledger.TradeRepository.list_trades`."""

    async def list_trades(
        self, user_id: str, *, wallet: str | None = None, limit: int = 50
    ) -> Sequence[TradeLike]: ...


def check_wallet(wallet: str) -> str:
    """`wallet` if it reads as a Solana address (base58 of 32 bytes), else 400 INVALID_WALLET."""
    if 32 <= len(wallet) <= 44:
        try:
            Pubkey.from_string(wallet)
        except ValueError:
            pass
        else:
            return wallet
    raise InvalidRequest(
        "wallet must be a Solana address (base58, 32 bytes)", code="INVALID_WALLET", field="wallet"
    )


def parse_window(window: str) -> timedelta | None:
    if window not in PNL_WINDOWS:
        raise InvalidRequest(
            f"window must be one of {', '.join(PNL_WINDOWS)}", code="INVALID_WINDOW", field="window"
        )
    return PNL_WINDOWS[window]


def _text(value: Decimal | None) -> str | None:
    """A Decimal as a plain decimal string (no exponent), rounded to 18 significant digits."""
    if value is None:
        return None
    rounded = _SIGNIFICANT.plus(value)
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _ui(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)


def _symbol(mint: str, native: bool) -> str | None:
    if mint == SOL_MINT:
        return "SOL" if native else "WSOL"
    token = token_by_mint(mint)
    return token.symbol if token is not None else None


def _iso_ms(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass(frozen=True, slots=True)
class _Served:
    """A cached value as this request received it: `seen` when this process handed out this
    very object before (it came from L1)."""

    value: dict[str, Any]
    seen: bool


class _TierProbe:
    """The cache codec that tells an L1 hit from an L2 read without the cache's help.

    L1 keeps the decoded object itself and hands out the same object on every hit, while a read
    from L2 decodes a new one. The probe remembers (by identity, holding a reference so that the
    identity cannot be reused) the objects it already handed out, up to `capacity`.
    """

    def __init__(self, capacity: int) -> None:
        self._seen: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._capacity = capacity

    def dump(self, value: _Served) -> Any:
        return value.value

    def load(self, raw: Any) -> _Served:
        assert isinstance(raw, dict), "a portfolio value is a JSON object"
        key = id(raw)
        known = self._seen.get(key)
        if known is raw:
            self._seen.move_to_end(key)
            return _Served(raw, seen=True)
        self._seen[key] = raw
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return _Served(raw, seen=False)


class PortfolioService:
    """`portfolio(user_id, wallet)` and `pnl(user_id, wallet, window)` as API JSON."""

    def __init__(
        self,
        *,
        cache: Cache,
        holdings: HoldingsReader,
        prices: PriceResolver,
        trades: TradeHistory,
        owners: WalletOwners,
        ttl_s: float = 15.0,
        grace_s: float = 60.0,
        l1_ttl_s: float = 2.0,
        hard_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self._holdings = holdings
        self._prices = prices
        self._trades = trades
        self._owners = owners
        self._ttl_s = ttl_s
        self._grace_s = grace_s
        self._l1_ttl_s = l1_ttl_s
        self._hard_timeout_s = hard_timeout_s
        self._clock = clock
        self._probe = _TierProbe(cache.config.l1_max_entries)
        self._owned: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._watcher: BalanceWatcher | None = None
        self._pending: set[str] = set()
        self._flush: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def attach_watcher(self, watcher: BalanceWatcher) -> None:
        """Follow balance changes of the wallets whose portfolio is read."""
        self._watcher = watcher

    # ---- reads ----------------------------------------------------------------------------

    async def portfolio(self, user_id: str, wallet: str) -> dict[str, Any]:
        await self._check_owner(user_id, check_wallet(wallet))
        served, tier = await self._cached(
            f"portfolio:{wallet}", wallet, lambda: self._compute_portfolio(wallet)
        )
        return self._answer(served, tier)

    async def portfolio_of(self, wallet: str) -> dict[str, Any]:
        """The same answer without the owner check, for trusted callers (the operator's CLI)."""
        served, tier = await self._cached(
            f"portfolio:{check_wallet(wallet)}", wallet, lambda: self._compute_portfolio(wallet)
        )
        return self._answer(served, tier)

    async def pnl(self, user_id: str, wallet: str, window: str) -> dict[str, Any]:
        check_wallet(wallet)
        reach = parse_window(window)
        await self._check_owner(user_id, wallet)
        served, tier = await self._cached(
            f"pnl:{wallet}:{window}",
            wallet,
            lambda: self._compute_pnl(user_id, wallet, window, reach),
        )
        return self._answer(served, tier)

    async def _check_owner(self, user_id: str, wallet: str) -> None:
        key = (user_id, wallet)
        if key in self._owned:
            self._owned.move_to_end(key)
            return
        if await self._owners.wallet_of(user_id, wallet) is None:
            raise NotFound(
                f"no wallet {wallet} among yours", code="WALLET_NOT_FOUND", field="wallet"
            )
        # A wallet never changes owner, so a positive answer can be remembered.
        self._owned[key] = None
        if len(self._owned) > 100_000:
            self._owned.popitem(last=False)

    async def _cached(
        self, key: str, wallet: str, compute: Callable[[], Any]
    ) -> tuple[_Served, str]:
        produced = secrets.token_hex(8)

        async def computation() -> _Served:
            value = await compute()
            value["computationId"] = produced
            return _Served(value, seen=False)

        served = await self.cache.get_or_set(
            key,
            computation,
            tags=[f"wallet:{wallet}"],
            ttl=self._ttl_s,
            grace=self._grace_s,
            l1_ttl=self._l1_ttl_s,
            hard_timeout=self._hard_timeout_s,
            codec=self._probe,
        )
        if served.value.get("computationId") == produced:
            tier = "computed"
        else:
            tier = "l1" if served.seen else "l2"
        return served, tier

    def _answer(self, served: _Served, tier: str) -> dict[str, Any]:
        value = served.value
        age_ms = max(0, int(self._clock() * 1000) - int(value["computedAtMs"]))
        answer = {k: v for k, v in value.items() if k not in ("computationId", "computedAtMs")}
        answer["cache"] = {"tier": tier, "ageMs": age_ms, "stale": age_ms > self._ttl_s * 1000}
        return answer

    # ---- computations ---------------------------------------------------------------------

    async def _compute_portfolio(self, wallet: str) -> dict[str, Any]:
        holdings = await self._holdings.read(wallet)
        if self._watcher is not None:
            self._watcher.watch(wallet, [a.address for a in holdings.accounts])
        mints = [SOL_MINT, *(a.mint for a in holdings.accounts)]
        prices = await self._prices.resolve(mints)
        return self._portfolio_json(holdings, prices)

    def _portfolio_json(
        self, holdings: ChainHoldings, prices: Mapping[str, ResolvedPrice | None]
    ) -> dict[str, Any]:
        now_ms = int(self._clock() * 1000)
        sol = prices.get(SOL_MINT)
        sol_usd = sol.usd if sol is not None else None
        rows: list[tuple[str, bool, int, int, list[str]]] = [
            (SOL_MINT, True, holdings.lamports, 9, [])
        ]
        by_mint: dict[str, tuple[int, int, list[str]]] = {}
        for account in holdings.accounts:
            amount, _decimals, addresses = by_mint.get(account.mint, (0, account.decimals, []))
            by_mint[account.mint] = (amount + account.amount, account.decimals, addresses)
            addresses.append(account.address)
        for mint, (amount, decimals, addresses) in by_mint.items():
            rows.append((mint, False, amount, decimals, addresses))
        total_usd = Decimal(0)
        unpriced = 0
        out: list[dict[str, Any]] = []
        for mint, native, amount, decimals, addresses in rows:
            price = prices.get(mint)
            value_usd = value_sol = None
            if price is not None:
                value_usd = _ui(amount, decimals) * price.usd
                total_usd += value_usd
                if mint == SOL_MINT:
                    value_sol = _ui(amount, decimals)
                elif sol_usd:
                    value_sol = value_usd / sol_usd
            elif amount:
                unpriced += 1
            out.append(
                {
                    "mint": mint,
                    "symbol": _symbol(mint, native),
                    "native": native,
                    "amount": str(amount),
                    "decimals": decimals,
                    "uiAmount": _text(_ui(amount, decimals)),
                    "tokenAccounts": addresses,
                    "price": None
                    if price is None
                    else {
                        "usd": _text(price.usd),
                        "sol": _text(
                            Decimal(1)
                            if mint == SOL_MINT
                            else (price.usd / sol_usd if sol_usd else None)
                        ),
                        "source": price.source,
                        "ageMs": max(0, now_ms - int(price.ts * 1000)),
                    },
                    "priceMissing": price is None,
                    "valueUsd": _text(value_usd),
                    "valueSol": _text(value_sol),
                }
            )
        return {
            "wallet": holdings.wallet,
            "asOfSlot": holdings.slot,
            "computedAt": _iso_ms(now_ms),
            "computedAtMs": now_ms,
            "solUsd": _text(sol_usd),
            "holdings": out,
            "total": {
                "valueUsd": _text(total_usd),
                "valueSol": _text(total_usd / sol_usd) if sol_usd else None,
                "unpriced": unpriced,
                "complete": unpriced == 0 and sol_usd is not None,
            },
        }

    async def _portfolio_value(self, wallet: str) -> dict[str, Any]:
        served, _tier = await self._cached(
            f"portfolio:{wallet}", wallet, lambda: self._compute_portfolio(wallet)
        )
        return served.value

    async def _compute_pnl(
        self, user_id: str, wallet: str, window: str, reach: timedelta | None
    ) -> dict[str, Any]:
        portfolio, trades = await asyncio.gather(
            self._portfolio_value(wallet),
            self._trades.list_trades(user_id, wallet=wallet, limit=_MAX_FILLS),
        )
        holdings: dict[str, int] = {}
        decimals: dict[str, int] = {}
        prices: dict[str, Decimal | None] = {}
        symbols: dict[str, str | None] = {}
        for row in portfolio["holdings"]:
            mint = row["mint"]
            # Swaps spend and receive SOL through the wrapped mint: native and wrapped are one.
            holdings[mint] = holdings.get(mint, 0) + int(row["amount"])
            decimals[mint] = int(row["decimals"])
            price = row["price"]
            prices[mint] = Decimal(price["usd"]) if price is not None else None
            symbols.setdefault(mint, _symbol(mint, True))
        for trade in trades:
            for mint in (trade.request.input_mint, trade.request.output_mint):
                token = token_by_mint(mint)
                if mint not in decimals and token is not None:
                    decimals[mint] = token.decimals
        fills = [
            f
            for t in trades
            if (f := fill_from_trade(t, decimals=decimals, recorded_usd=t.fill_usd_prices))
            is not None
        ]
        sol_usd = prices.get(SOL_MINT)
        now_ms = int(self._clock() * 1000)
        since = None if reach is None else datetime.fromtimestamp(now_ms / 1000, tz=UTC) - reach
        report = compute_pnl(
            fills,
            holdings=holdings,
            decimals=decimals,
            prices_usd=prices,
            sol_usd=sol_usd,
            since=since,
        )
        notes = list(report.notes)
        truncated = len(trades) >= _MAX_FILLS
        if truncated:
            notes.append(f"only the newest {_MAX_FILLS} trades are counted")
        return {
            "wallet": wallet,
            "window": window,
            "since": None if since is None else since.isoformat().replace("+00:00", "Z"),
            "asOfSlot": portfolio["asOfSlot"],
            "computedAt": _iso_ms(now_ms),
            "computedAtMs": now_ms,
            "solUsd": _text(sol_usd),
            "fills": len(fills),
            "tokens": [_token_pnl_json(t, symbols, decimals) for t in report.tokens],
            "total": {
                "usd": {
                    "realized": _text(report.realized_usd),
                    "unrealized": _text(report.unrealized_usd),
                    "total": _text(report.realized_usd + report.unrealized_usd),
                },
                "sol": {
                    "realized": _text(report.realized_sol),
                    "unrealized": _text(report.unrealized_sol),
                    "total": _text(report.realized_sol + report.unrealized_sol),
                },
                "fees": {
                    "lamports": str(report.fees_lamports),
                    "usd": _text(report.fees_usd),
                    "usdComplete": report.fees_usd_complete,
                },
            },
            "incomplete": report.incomplete or truncated,
            "notes": notes,
        }

    # ---- invalidation ---------------------------------------------------------------------

    async def invalidate(self, *wallets: str) -> None:
        """The next read of these wallets is fresh, on every instance."""
        if wallets:
            await self.cache.invalidate_tags(*(f"wallet:{w}" for w in wallets))

    def on_balance_change(self, wallet: str) -> None:
        """A balance of `wallet` changed on the chain (callable from sync code)."""
        self._pending.add(wallet)
        if self._flush is None or self._flush.done():
            self._flush = self._spawn(self._flush_pending())

    def on_trade_event(self, tag: str, trade: Mapping[str, Any]) -> None:
        """A `TradeEventListener`: a settled trade (confirmed, or failed after paying fees)
        changed the wallet's balances and its fills."""
        wallet = tag.removeprefix("wallet:") if tag.startswith("wallet:") else trade.get("wallet")
        if isinstance(wallet, str) and wallet:
            self.on_balance_change(wallet)

    async def _flush_pending(self) -> None:
        # Notifications of one transaction come together (the wallet, its token accounts):
        # one tag bump for all of them.
        await asyncio.sleep(0)
        while self._pending:
            wallets = sorted(self._pending)
            self._pending.clear()
            try:
                await self.invalidate(*wallets)
            except Exception as exc:  # invalidation is retried by the TTL, never fatal
                _log.warning("portfolio_invalidation_failed", error_type=type(exc).__name__)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        if self._watcher is not None:
            await self._watcher.aclose()
        # Pending invalidations are worth finishing: they are quick and the cache is still open.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()


def _token_pnl_json(
    t: TokenPnl, symbols: Mapping[str, str | None], decimals: Mapping[str, int]
) -> dict[str, Any]:
    flags = []
    if t.unknown_basis_quantity or t.unknown_basis_sold or t.unknown_basis_quantity_sol:
        flags.append("UNKNOWN_BASIS")
    if t.price_usd is None and t.quantity:
        flags.append("NO_PRICE")
    if t.unvalued_sold_usd or t.unvalued_sold_sol:
        flags.append("UNVALUED_FILLS")
    return {
        "mint": t.mint,
        "symbol": symbols.get(t.mint) or _symbol(t.mint, True),
        "quantity": str(t.quantity),
        "decimals": decimals.get(t.mint),
        "priceUsd": _text(t.price_usd),
        "valueUsd": _text(t.value_usd),
        "valueSol": _text(t.value_sol),
        "usd": {
            "realized": _text(t.realized_usd),
            "unrealized": _text(t.unrealized_usd),
            "costBasis": _text(t.cost_basis_usd),
            "averageCost": _text(t.average_cost_usd),
        },
        "sol": {
            "realized": _text(t.realized_sol),
            "unrealized": _text(t.unrealized_sol),
            "costBasis": _text(t.cost_basis_sol),
        },
        "fees": {"lamports": str(t.fees_lamports), "usd": _text(t.fees_usd)},
        "unknownBasis": {
            "quantityUsd": str(t.unknown_basis_quantity),
            "quantitySol": str(t.unknown_basis_quantity_sol),
            "soldUsd": str(t.unknown_basis_sold),
            "soldSol": str(t.unknown_basis_sold_sol),
        },
        "unvaluedSold": {"usd": str(t.unvalued_sold_usd), "sol": str(t.unvalued_sold_sol)},
        "flags": flags,
    }
