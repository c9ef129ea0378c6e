"""The simnet's market: tokens, pools on the chain, fair prices, routing, swaps and traders.

Pools are constant-product pairs whose two reserves are real SPL token accounts owned by one
simulated market maker: a pool's reserves are whatever its vaults hold on the chain, so a swap that
lands changes the price. Fair USD prices follow a random walk (`PriceWalk`); background traders
swap on-chain through real transactions sent with `SimChain.send`: arbitrageurs pull every liquid
pool back toward the fair prices each tick, noise traders push pools about between ticks. Venues
(Jupiter, DFlow, Hashflow, Pyth) price from this one market.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.sim.chain import PreflightFailure, SimChain, TransactionRecord
from solbot.sim.chain._spl import NATIVE_MINT, associated_token_address, decode_token_account
from solbot.sim.faults import FaultBook
from solbot.sim.market._amm import (
    BPS,
    NoRouteFound,
    PoolState,
    Route,
    SwapMode,
    best_route,
    evaluate_path,
)
from solbot.sim.market._catalog import (
    ILLIQUID_SYMBOLS,
    POOL_SPECS,
    PRICE_MODELS,
    MarketToken,
    PoolSpec,
    derived_keypair,
    market_tokens,
)
from solbot.sim.market._swap import SwapLeg, SwapPlan, build_swap_transaction, user_signed
from solbot.sim.market._walk import AssetModel, PriceWalk

__all__ = [
    "BuiltSwap",
    "DemoWallet",
    "InvalidSwap",
    "MakerQuote",
    "Market",
    "MarketConfig",
    "MarketError",
    "OraclePrice",
    "Pool",
    "SlippageExceeded",
    "UnknownToken",
]

_log = logging.getLogger("solbot.sim.market")

INTERMEDIATES_SYMBOLS = ("SOL", "USDC", "USDT")
JITO_TIP_ACCOUNT = Pubkey.from_string("96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5")
_LAMPORTS_PER_SOL = 1_000_000_000
_DEMO_HOLDINGS_USD = (
    ("USDC", 10_000),
    ("USDT", 5_000),
    ("BONK", 1_000),
    ("JUP", 1_500),
    ("WIF", 1_000),
)


class MarketError(Exception):
    """A market request that cannot be served; venues map it to their own error bodies."""


class UnknownToken(MarketError):
    def __init__(self, mint: str) -> None:
        super().__init__(f"The token {mint} is not tradable")
        self.mint = mint


class SlippageExceeded(MarketError):
    """The market moved past the quote's slippage tolerance since it was quoted."""


class InvalidSwap(MarketError):
    """A swap request whose quote does not describe a swap this market can build."""


@dataclass(frozen=True, slots=True)
class MarketConfig:
    demo_wallets: int = 3
    background_traders: int = 4
    time_scale: float = 60.0  # simulated seconds per real second, for the random walk
    # Arbitrageurs act every tick, as mainnet's do every slot: a liquid pool whose price is off
    # the fair price by more than its fee plus this edge (their gas and priority fees) is traded
    # back toward it. The random walk runs `time_scale` times faster than real time, so anything
    # sparser leaves pools a percent off the oracle for seconds, which mainnet's majors never are.
    arbitrage_edge_bps: float = 2.0
    oracle_conf_bps: float = 4.0  # Pyth confidence interval, in bps of the price
    hashflow_spread_bps: float = 8.0
    hashflow_inventory_usd: float = 3_000_000.0


@dataclass(frozen=True, slots=True)
class Pool:
    """A pool on the chain: its address (the venues' `ammKey`) and its two maker-owned vaults."""

    key: Pubkey
    mint_a: Pubkey
    mint_b: Pubkey
    vault_a: Pubkey
    vault_b: Pubkey
    fee_bps: int
    label: str
    thin: bool

    def vaults(self, input_mint: Pubkey) -> tuple[Pubkey, Pubkey]:
        """(vault receiving `input_mint`, vault paying the other mint)."""
        if input_mint == self.mint_a:
            return self.vault_a, self.vault_b
        return self.vault_b, self.vault_a


@dataclass(frozen=True, slots=True)
class DemoWallet:
    name: str
    keypair: Keypair

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()


@dataclass(frozen=True, slots=True)
class BuiltSwap:
    transaction: VersionedTransaction
    last_valid_block_height: int
    compute_unit_limit: int
    compute_unit_price_micro_lamports: int

    @property
    def prioritization_fee_lamports(self) -> int:
        return -(-self.compute_unit_limit * self.compute_unit_price_micro_lamports // 1_000_000)


@dataclass(frozen=True, slots=True)
class OraclePrice:
    """A Pyth-style price: integers scaled by 10**expo."""

    price: int
    conf: int
    ema_price: int
    ema_conf: int
    expo: int
    publish_time: int
    prev_publish_time: int
    slot: int


@dataclass(frozen=True, slots=True)
class MakerQuote:
    """An RFQ maker's firm quote: `base_amount` of the base token for `quote_amount`."""

    base_mint: str
    quote_mint: str
    base_amount: int
    quote_amount: int
    spread_bps: float


@dataclass(slots=True)
class _Oracle:
    ema: float
    publish_time: int = 0
    prev_publish_time: int = 0


@dataclass(slots=True)
class _Stats:
    trades_sent: int = 0
    trades_failed: int = 0
    arbitrage_trades: int = 0
    noise_trades: int = 0
    ticks: int = 0
    price_listeners: list[Callable[[], None]] = field(default_factory=list)


class Market:
    """Pools, prices, routing and swap building of the simnet (synchronous; one event loop)."""

    def __init__(
        self,
        chain: SimChain,
        faults: FaultBook,
        *,
        seed: int,
        data_dir: Path | None = None,
        config: MarketConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.faults = faults
        self.seed = seed
        self.config = config or MarketConfig()
        self.data_dir = data_dir
        self._clock = clock
        self._rng = random.Random(seed)  # noqa: S311 - simulation noise, not cryptography
        self.maker = derived_keypair(seed, "maker")
        self.stranger = derived_keypair(seed, "stranger").pubkey()
        self.tokens: dict[str, MarketToken] = {t.mint: t for t in market_tokens(seed)}
        self._by_symbol = {t.symbol: t for t in self.tokens.values()}
        self.newt_mint = self._by_symbol["NEWT"].mint
        self.intermediates = tuple(self._by_symbol[s].mint for s in INTERMEDIATES_SYMBOLS)
        self._decimals: dict[Pubkey, int] = {
            Pubkey.from_string(t.mint): t.decimals for t in self.tokens.values()
        }
        self.walk = PriceWalk(
            [
                AssetModel(
                    self._by_symbol[symbol].mint,
                    model.start_price,
                    model.daily_vol,
                    model.jumps_per_day,
                    model.jump_size,
                    model.pegged,
                )
                for symbol, model in PRICE_MODELS.items()
            ],
            random.Random(seed + 1),  # noqa: S311 - simulation noise
            time_scale=self.config.time_scale,
        )
        self._oracle = {mint: _Oracle(price) for mint, price in self.walk.prices.items()}
        self.pools: dict[str, Pool] = {}
        self.demo_wallets: list[DemoWallet] = []
        self.traders: list[DemoWallet] = []
        self.keys_file: Path | None = None
        self._vault_keys: frozenset[Pubkey] = frozenset()
        self._states: dict[str, PoolState] = {}
        self._states_dirty = True
        self._liquid_by_pair: dict[frozenset[str], list[PoolState]] = {}
        self._all_by_pair: dict[frozenset[str], list[PoolState]] = {}
        self._stats = _Stats()
        self._ready = False

    # ---- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create mints, the maker, pools, inventories and funded wallets on the chain."""
        if self._ready:
            return
        chain = self.chain
        authority = derived_keypair(self.seed, "mint-authority").pubkey()
        for token in self.tokens.values():
            mint = Pubkey.from_string(token.mint)
            if mint != NATIVE_MINT:
                chain.create_mint(mint, token.decimals, authority)
        chain.airdrop(self.maker.pubkey(), 10 * _LAMPORTS_PER_SOL)
        for spec in POOL_SPECS:
            self._create_pool(spec)
        self._vault_keys = frozenset(
            v for pool in self.pools.values() for v in (pool.vault_a, pool.vault_b)
        )
        for token in self.tokens.values():
            if token.pyth_feed_id is None:
                continue  # the RFQ maker only quotes established tokens
            amount = self._usd_to_units(token.mint, self.config.hashflow_inventory_usd)
            self._credit(self.maker.pubkey(), token.mint, amount)
        self.demo_wallets = [
            DemoWallet(f"demo-{i + 1}", derived_keypair(self.seed, f"demo:{i}"))
            for i in range(self.config.demo_wallets)
        ]
        for wallet in self.demo_wallets:
            chain.airdrop(wallet.pubkey, 100 * _LAMPORTS_PER_SOL)
            for symbol, usd in _DEMO_HOLDINGS_USD:
                self._credit(wallet.pubkey, self._by_symbol[symbol].mint, self._usd(symbol, usd))
        self.traders = [
            DemoWallet(f"trader-{i + 1}", derived_keypair(self.seed, f"trader:{i}"))
            for i in range(self.config.background_traders)
        ]
        for trader in self.traders:
            self._fund_trader(trader.pubkey)
        chain.add_listener(self)
        self._states_dirty = True
        if self.data_dir is not None:
            self.keys_file = self._write_keys_file(self.data_dir)
        self._ready = True

    def _usd(self, symbol: str, usd: float) -> int:
        return self._usd_to_units(self._by_symbol[symbol].mint, usd)

    def _usd_to_units(self, mint: str, usd: float) -> int:
        price = self.fair_price(mint) or 1.0
        return int(usd / price * 10 ** self.tokens[mint].decimals)

    def _credit(self, owner: Pubkey, mint: str, amount: int) -> Pubkey:
        mint_key = Pubkey.from_string(mint)
        account = associated_token_address(owner, mint_key)
        self.chain.credit_tokens(account, mint_key, owner, amount)
        return account

    def _fund_trader(self, trader: Pubkey) -> None:
        self.chain.airdrop(trader, 200_000 * _LAMPORTS_PER_SOL)
        for token in self.tokens.values():
            if token.symbol in PRICE_MODELS and token.mint != str(NATIVE_MINT):
                self._credit(trader, token.mint, self._usd_to_units(token.mint, 20_000_000))

    def _create_pool(self, spec: PoolSpec) -> None:
        base, quote = self._by_symbol[spec.base], self._by_symbol[spec.quote]
        name = f"{spec.base}/{spec.quote}"
        key = derived_keypair(self.seed, f"pool:{name}").pubkey()
        vault_a = derived_keypair(self.seed, f"vault:{name}:{spec.base}").pubkey()
        vault_b = derived_keypair(self.seed, f"vault:{name}:{spec.quote}").pubkey()
        owner = self.maker.pubkey()
        for vault, token in ((vault_a, base), (vault_b, quote)):
            amount = self._usd_to_units(token.mint, spec.usd_per_side)
            self.chain.credit_tokens(vault, Pubkey.from_string(token.mint), owner, amount)
        self.pools[str(key)] = Pool(
            key=key,
            mint_a=Pubkey.from_string(base.mint),
            mint_b=Pubkey.from_string(quote.mint),
            vault_a=vault_a,
            vault_b=vault_b,
            fee_bps=spec.fee_bps,
            label=spec.label,
            thin=spec.thin,
        )

    def _write_keys_file(self, data_dir: Path) -> Path:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "demo-wallets.json"
        document = {
            "note": "simnet demo wallets: test keys, worthless outside the simnet",
            "wallets": [
                {
                    "name": w.name,
                    "publicKey": str(w.pubkey),
                    "secretKey": str(w.keypair),  # base58 of the 64-byte keypair (Phantom's)
                    "keypair": list(bytes(w.keypair)),  # solana-keygen's JSON array
                }
                for w in self.demo_wallets
            ],
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
        return path

    # ---- chain listener: pool reserves are cached until a vault changes --------------------

    def on_slot(self, slot: int, parent: int, root: int) -> None:
        return None

    def on_transaction(self, record: TransactionRecord) -> None:
        return None

    def on_accounts_changed(self, changed: dict[Pubkey, Account | None], slot: int) -> None:
        if not self._states_dirty and not self._vault_keys.isdisjoint(changed):
            self._states_dirty = True

    def _pool_states(self) -> dict[str, PoolState]:
        if not self._states_dirty:
            return self._states
        states: dict[str, PoolState] = {}
        liquid: dict[frozenset[str], list[PoolState]] = {}
        every: dict[frozenset[str], list[PoolState]] = {}
        for key, pool in self.pools.items():
            state = PoolState(
                key=key,
                mint_a=str(pool.mint_a),
                mint_b=str(pool.mint_b),
                reserve_a=self._balance(pool.vault_a),
                reserve_b=self._balance(pool.vault_b),
                fee_bps=pool.fee_bps,
                label=pool.label,
            )
            states[key] = state
            pair = frozenset((state.mint_a, state.mint_b))
            every.setdefault(pair, []).append(state)
            if not pool.thin:
                liquid.setdefault(pair, []).append(state)
        self._states, self._liquid_by_pair, self._all_by_pair = states, liquid, every
        self._states_dirty = False
        return states

    def _balance(self, account: Pubkey) -> int:
        decoded = decode_token_account(self.chain.get_account(account))
        return 0 if decoded is None else decoded.amount

    def pool_state(self, key: str) -> PoolState | None:
        return self._pool_states().get(key)

    # ---- prices ---------------------------------------------------------------------------

    def token(self, mint: str) -> MarketToken:
        token = self.tokens.get(mint)
        if token is None:
            raise UnknownToken(mint)
        return token

    def symbol_mint(self, symbol: str) -> str:
        return self._by_symbol[symbol].mint

    def fair_price(self, mint: str) -> float | None:
        """The fair USD price (the random walk's); None for tokens without one."""
        if mint in self.walk.prices:
            return self.walk.prices[mint]
        token = self.tokens.get(mint)
        if token is not None and token.symbol in ILLIQUID_SYMBOLS:
            return 1.0
        return None

    def pool_price(self, mint: str) -> float | None:
        """USD price read from the pools (mid of the deepest pool to USDC, or via SOL)."""
        usdc = self._by_symbol["USDC"].mint
        if mint == usdc:
            return self.fair_price(usdc)
        self._pool_states()
        direct = self._mid(mint, usdc)
        if direct is not None:
            return direct * (self.fair_price(usdc) or 1.0)
        sol = self._by_symbol["SOL"].mint
        via = self._mid(mint, sol)
        sol_usd = self._mid(sol, usdc)
        if via is None or sol_usd is None:
            return None
        return via * sol_usd

    def _mid(self, base: str, quote: str) -> float | None:
        pools = self._liquid_by_pair.get(frozenset((base, quote)))
        if not pools:
            return None
        pool = max(pools, key=lambda p: p.reserves(quote)[0])
        reserve_base, reserve_quote = pool.reserves(base)
        if reserve_base == 0:
            return None
        base_dec, quote_dec = self.tokens[base].decimals, self.tokens[quote].decimals
        return float(reserve_quote * 10**base_dec) / float(reserve_base * 10**quote_dec)

    def liquidity_usd(self, mint: str) -> float:
        """USD value of both sides of every liquid pool holding `mint`."""
        total = 0.0
        for pools in self._liquid_by_pair.values():
            for pool in pools:
                if mint not in (pool.mint_a, pool.mint_b):
                    continue
                for side, reserve in ((pool.mint_a, pool.reserve_a), (pool.mint_b, pool.reserve_b)):
                    price = self.fair_price(side) or 0.0
                    total += reserve / 10 ** self.tokens[side].decimals * price
        return total

    def oracle_price(self, mint: str) -> OraclePrice | None:
        """The Pyth price of `mint` at the last tick (None for tokens without a feed)."""
        token = self.tokens.get(mint)
        if token is None or token.pyth_feed_id is None:
            return None
        fair = self.walk.prices[mint]
        oracle = self._oracle[mint]
        scale = 10**8
        conf = fair * self.config.oracle_conf_bps / BPS
        publish = oracle.publish_time or int(self._clock())
        return OraclePrice(
            price=round(fair * scale),
            conf=max(1, round(conf * scale)),
            ema_price=round(oracle.ema * scale),
            ema_conf=max(1, round(conf * scale * 1.2)),
            expo=-8,
            publish_time=publish,
            prev_publish_time=oracle.prev_publish_time or publish,
            slot=self.chain.slot,
        )

    def feed_mints(self) -> dict[str, str]:
        """Pyth feed id (hex, no 0x) -> mint, for the tokens that have a feed."""
        return {t.pyth_feed_id: t.mint for t in self.tokens.values() if t.pyth_feed_id}

    def add_price_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` is called after every price tick (the Hermes stream waits on it)."""
        self._stats.price_listeners.append(listener)

    def remove_price_listener(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._stats.price_listeners.remove(listener)

    # ---- routing ---------------------------------------------------------------------------

    def quote(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        swap_mode: SwapMode = "ExactIn",
        *,
        max_hops: int = 3,
        illiquid: bool = False,
        fee_bps: int | None = None,
    ) -> Route:
        """The best route for `amount` (input for ExactIn, output for ExactOut).

        `illiquid` routes through the thin ILQ pools (more than four hops, poor output), as an
        aggregator does when its liquidity view is broken. `fee_bps` replaces the pools' fees.
        Raises UnknownToken, NoRouteFound.
        """
        self.token(input_mint)
        self.token(output_mint)
        if input_mint == output_mint:
            raise NoRouteFound("input and output mints are the same")
        if amount <= 0:
            raise NoRouteFound("amount must be positive")
        self._pool_states()
        if illiquid:
            return self._illiquid_route(input_mint, output_mint, amount, swap_mode, fee_bps)
        return best_route(
            self._liquid_by_pair,
            input_mint,
            output_mint,
            amount,
            swap_mode,
            intermediates=self.intermediates,
            max_hops=max_hops,
            fee_bps=fee_bps,
        )

    def _illiquid_route(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        swap_mode: SwapMode,
        fee_bps: int | None,
    ) -> Route:
        ilq = [self._by_symbol[s].mint for s in ILLIQUID_SYMBOLS]
        pairs = self._all_by_pair

        def one(a: str, b: str) -> PoolState | None:
            found = pairs.get(frozenset((a, b)))
            return found[0] if found else None

        chain_pools = [one(ilq[i], ilq[i + 1]) for i in range(len(ilq) - 1)]
        best: Route | None = None
        for entry in self.intermediates:
            for exit_ in self.intermediates:
                head = [] if input_mint == entry else [one(input_mint, entry)]
                tail = [] if output_mint == exit_ else [one(exit_, output_mint)]
                path = [*head, one(entry, ilq[0]), *chain_pools, one(ilq[-1], exit_), *tail]
                if any(p is None for p in path):
                    continue
                pools = [p for p in path if p is not None]
                route = evaluate_path(pools, input_mint, amount, swap_mode, fee_bps=fee_bps)
                if route is None or route.output_mint != output_mint:
                    continue
                if best is None or (
                    route.out_amount > best.out_amount
                    if swap_mode == "ExactIn"
                    else route.in_amount < best.in_amount
                ):
                    best = route
        if best is None:
            raise NoRouteFound(f"no illiquid route from {input_mint} to {output_mint}")
        return best

    def route_along(
        self,
        pool_keys: Sequence[str],
        input_mint: str,
        amount: int,
        swap_mode: SwapMode,
        *,
        fee_bps: int | None = None,
    ) -> Route | None:
        """Price `amount` along the given pools now (None when they cannot fill it)."""
        states = self._pool_states()
        pools = [states.get(key) for key in pool_keys]
        if not pools or any(p is None for p in pools):
            return None
        return evaluate_path(
            [p for p in pools if p is not None], input_mint, amount, swap_mode, fee_bps=fee_bps
        )

    def check_slippage(
        self,
        pool_keys: Sequence[str],
        input_mint: str,
        in_amount: int,
        out_amount: int,
        swap_mode: SwapMode,
        other_amount_threshold: int,
        *,
        fee_bps: int | None = None,
    ) -> None:
        """Raise SlippageExceeded when the route now falls short of the quote's threshold."""
        if swap_mode == "ExactIn":
            now = self.route_along(pool_keys, input_mint, in_amount, "ExactIn", fee_bps=fee_bps)
            now_out = 0 if now is None else now.out_amount
            if now_out < other_amount_threshold:
                raise SlippageExceeded(
                    f"Slippage tolerance exceeded: the route now gives {now_out}, "
                    f"below otherAmountThreshold {other_amount_threshold}"
                )
        else:
            now = self.route_along(pool_keys, input_mint, out_amount, "ExactOut", fee_bps=fee_bps)
            if now is None or now.in_amount > other_amount_threshold:
                needed = "more than the pools hold" if now is None else str(now.in_amount)
                raise SlippageExceeded(
                    f"Slippage tolerance exceeded: the route now needs {needed} in, "
                    f"above otherAmountThreshold {other_amount_threshold}"
                )

    # ---- RFQ maker (Hashflow) --------------------------------------------------------------

    def maker_quote(
        self,
        base_mint: str,
        quote_mint: str,
        *,
        base_amount: int | None = None,
        quote_amount: int | None = None,
    ) -> MakerQuote:
        """The maker's firm price from fair prices with a size-dependent spread.

        Raises UnknownToken (no feed: the maker does not trade it) and InvalidSwap (size).
        """
        base, quote = self.token(base_mint), self.token(quote_mint)
        if base.pyth_feed_id is None or quote.pyth_feed_id is None:
            raise UnknownToken(base_mint if base.pyth_feed_id is None else quote_mint)
        base_usd, quote_usd = self.walk.prices[base_mint], self.walk.prices[quote_mint]
        if base_amount is not None:
            size_usd = base_amount / 10**base.decimals * base_usd
        elif quote_amount is not None:
            size_usd = quote_amount / 10**quote.decimals * quote_usd
        else:
            raise InvalidSwap("exactly one of baseTokenAmount and quoteTokenAmount is required")
        spread_bps = self.config.hashflow_spread_bps + 10.0 * size_usd / 100_000
        if size_usd > self.config.hashflow_inventory_usd / 3:
            raise InvalidSwap("Exceeds supported amounts")
        rate = base_usd / quote_usd * 10**quote.decimals / 10**base.decimals
        keep = 1.0 - spread_bps / BPS
        if base_amount is not None:
            out = math.floor(base_amount * rate * keep)
            if out <= 0:
                raise InvalidSwap("Below minimum amount")
            quote_ = MakerQuote(base_mint, quote_mint, base_amount, out, spread_bps)
        else:
            assert quote_amount is not None
            needed = math.ceil(quote_amount / rate / keep)
            if needed <= 0:
                raise InvalidSwap("Below minimum amount")
            quote_ = MakerQuote(base_mint, quote_mint, needed, quote_amount, spread_bps)
        inventory = self._balance(self.maker_leg(quote_).pay_account)
        if quote_.quote_amount > inventory:
            raise InvalidSwap("Exceeds supported amounts")
        return quote_

    # ---- swap transactions -----------------------------------------------------------------

    def pool_legs(
        self, pool_keys: Sequence[str], mints: Sequence[str], amounts: Sequence[int]
    ) -> list[SwapLeg]:
        """Legs through the given pools: leg i takes amounts[i] of mints[i], pays amounts[i+1]."""
        if len(mints) != len(pool_keys) + 1 or len(amounts) != len(mints):
            raise InvalidSwap("route plan amounts do not match its legs")
        legs = []
        for i, key in enumerate(pool_keys):
            pool = self.pools.get(key)
            if pool is None:
                raise InvalidSwap(f"unknown market {key}")
            mint_in, mint_out = Pubkey.from_string(mints[i]), Pubkey.from_string(mints[i + 1])
            if {mint_in, mint_out} != {pool.mint_a, pool.mint_b}:
                raise InvalidSwap(f"market {key} does not trade {mints[i]} for {mints[i + 1]}")
            receive, pay = pool.vaults(mint_in)
            legs.append(SwapLeg(receive, pay, mint_in, mint_out, amounts[i], amounts[i + 1]))
        return legs

    def route_legs(self, route: Route) -> list[SwapLeg]:
        """The legs that execute `route` through its pools' vaults."""
        return self.pool_legs(
            route.pool_keys,
            [route.input_mint, *(hop.output_mint for hop in route.hops)],
            [route.in_amount, *(hop.out_amount for hop in route.hops)],
        )

    def maker_leg(self, quote: MakerQuote) -> SwapLeg:
        """The RFQ maker's leg: its own inventory accounts, not a pool."""
        base, quote_mint = Pubkey.from_string(quote.base_mint), Pubkey.from_string(quote.quote_mint)
        maker = self.maker.pubkey()
        return SwapLeg(
            associated_token_address(maker, base),
            associated_token_address(maker, quote_mint),
            base,
            quote_mint,
            quote.base_amount,
            quote.quote_amount,
        )

    def build_swap(
        self,
        *,
        user: Pubkey,
        input_mint: str,
        output_mint: str,
        in_amount: int,
        out_amount: int,
        legs: Sequence[SwapLeg],
        compute_unit_price_micro_lamports: int,
        compute_unit_limit: int | None = None,
        wrap_and_unwrap_sol: bool = True,
        jito_tip_lamports: int = 0,
        malicious: bool = False,
        blockhash_slots_to_expiry: int | None = None,
    ) -> BuiltSwap:
        """The partially signed swap moving exactly `in_amount` and `out_amount`."""
        limit = compute_unit_limit or self.compute_unit_limit(len(legs))
        try:
            plan = SwapPlan(
                user=user,
                input_mint=Pubkey.from_string(input_mint),
                output_mint=Pubkey.from_string(output_mint),
                in_amount=in_amount,
                out_amount=out_amount,
                legs=legs,
                compute_unit_limit=limit,
                compute_unit_price_micro_lamports=compute_unit_price_micro_lamports,
                wrap_and_unwrap_sol=wrap_and_unwrap_sol,
                jito_tip_lamports=jito_tip_lamports,
                jito_tip_account=JITO_TIP_ACCOUNT,
                stranger=self.stranger if malicious else None,
                stranger_lamports=self.malicious_lamports(in_amount, input_mint),
            )
        except ValueError as exc:
            raise InvalidSwap(str(exc)) from None
        blockhash, last_valid = self.chain.latest_blockhash()
        if blockhash_slots_to_expiry is not None:
            last_valid = min(last_valid, self.chain.block_height + blockhash_slots_to_expiry)
        tx = build_swap_transaction(plan, self.maker, self._decimals, blockhash)
        return BuiltSwap(tx, last_valid, limit, compute_unit_price_micro_lamports)

    @staticmethod
    def compute_unit_limit(legs: int) -> int:
        return 80_000 + 25_000 * legs

    @staticmethod
    def malicious_lamports(in_amount: int, input_mint: str) -> int:
        """The stranger's cut under the malicious_tx fault: enough to matter, small to miss."""
        if input_mint == str(NATIVE_MINT):
            return max(1_000_000, in_amount // 20)
        return 50_000_000

    def priority_fee_estimate(self, writable: Sequence[Pubkey], percentile: int) -> int:
        """A CU price (micro-lamports) at `percentile` of recent fees for these accounts."""
        fees = sorted(fee for _slot, fee in self.chain.recent_prioritization_fees(list(writable)))
        nonzero = [f for f in fees if f > 0] or [10_000]
        index = min(len(nonzero) - 1, len(nonzero) * percentile // 100)
        return nonzero[index]

    def user_balance(self, user: Pubkey, mint: str) -> int:
        """What the user can spend of `mint` (lamports plus wSOL for SOL)."""
        mint_key = Pubkey.from_string(mint)
        balance = self._balance(associated_token_address(user, mint_key))
        if mint_key == NATIVE_MINT:
            balance += self.chain.get_balance(user)
        return balance

    # ---- the moving market -----------------------------------------------------------------

    def step(
        self, dt_s: float = 0.4, *, trades: int = 0, arbitrage: bool = False
    ) -> list[Signature]:
        """One tick: prices walk `dt_s` seconds, arbitrageurs (when `arbitrage`) pull the pools
        back toward them, then `trades` background noise swaps land on-chain."""
        volatility = self.faults.get("market").volatility
        self.walk.advance(dt_s, volatility=volatility)
        now = int(self._clock())
        alpha = min(1.0, dt_s / 10.0)
        for mint, oracle in self._oracle.items():
            oracle.ema += alpha * (self.walk.prices[mint] - oracle.ema)
            oracle.prev_publish_time = oracle.publish_time or now
            oracle.publish_time = now
        signatures = self.arbitrage() if arbitrage else []
        for _ in range(trades):
            signature = self.trade_once()
            if signature is not None:
                signatures.append(signature)
        self._stats.ticks += 1
        for listener in list(self._stats.price_listeners):
            listener()
        return signatures

    async def run(self, trades_per_s: float = 2.0, tick_ms: int = 400) -> None:
        """Tick prices every `tick_ms`, about `trades_per_s` background noise trades and, while
        there is background trading at all, arbitrage every tick; until cancelled. With
        `trades_per_s` 0 the pools stand still (tests that want a quiet chain)."""
        if not self._ready:
            self.setup()
        dt = tick_ms / 1000.0
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(dt)
            now = loop.time()
            elapsed, last = now - last, now
            trades = _poisson(self._rng, trades_per_s * elapsed)
            try:
                self.step(elapsed, trades=trades, arbitrage=trades_per_s > 0)
            except Exception:  # a broken tick must not stop the market
                _log.exception("market tick failed")

    def trade_once(self) -> Signature | None:
        """One background noise trade on a random liquid pool (retail flow moving prices)."""
        states = self._pool_states()
        liquid = [s for s in states.values() if not self.pools[s.key].thin]
        pool = self._rng.choice(liquid)
        self._stats.noise_trades += 1
        return self._trade(pool, self._noise(pool))

    def arbitrage(self) -> list[Signature]:
        """Every liquid pool off its fair price beyond fee and edge is traded back toward it."""
        signatures = []
        # One snapshot: a trade changes only its own pool's vaults, so the others' states hold
        # (reading them again after each trade re-read every vault on the chain).
        states = self._pool_states()
        for key, pool in self.pools.items():
            if pool.thin:
                continue
            state = states[key]
            plan = self._arbitrage(state)
            if plan is None:
                continue
            signature = self._trade(state, plan)
            if signature is not None:
                self._stats.arbitrage_trades += 1
                signatures.append(signature)
        return signatures

    def _trade(self, pool: PoolState, plan: tuple[str, int]) -> Signature | None:
        input_mint, amount = plan
        route = evaluate_path([pool], input_mint, amount, "ExactIn")
        if route is None or route.out_amount <= 0:
            return None
        trader = self._rng.choice(self.traders)
        if self.user_balance(trader.pubkey, input_mint) < 2 * amount + _LAMPORTS_PER_SOL:
            self._fund_trader(trader.pubkey)
        hop = route.hops[0]
        legs = self.route_legs(route)
        built = self.build_swap(
            user=trader.pubkey,
            input_mint=hop.input_mint,
            output_mint=hop.output_mint,
            in_amount=amount,
            out_amount=hop.out_amount,
            legs=legs,
            compute_unit_price_micro_lamports=self._rng.choice(
                (0, 1_000, 5_000, 20_000, 50_000, 100_000, 250_000)
            )
            + self._rng.randrange(100),
        )
        try:
            signature = self.chain.send(user_signed(built.transaction, trader.keypair))
        except PreflightFailure as exc:
            self._stats.trades_failed += 1
            _log.warning("background trade refused: %s", exc)
            return None
        self._stats.trades_sent += 1
        return signature

    def _arbitrage(self, pool: PoolState) -> tuple[str, int] | None:
        fair_a, fair_b = self.fair_price(pool.mint_a), self.fair_price(pool.mint_b)
        if fair_a is None or fair_b is None or pool.reserve_a == 0 or pool.reserve_b == 0:
            return None
        dec_a, dec_b = self.tokens[pool.mint_a].decimals, self.tokens[pool.mint_b].decimals
        target = fair_a / fair_b * 10**dec_b / 10**dec_a  # units of b per unit of a
        mid = pool.reserve_b / pool.reserve_a
        if abs(mid / target - 1.0) * BPS <= pool.fee_bps + self.config.arbitrage_edge_bps:
            return None
        k = pool.reserve_a * pool.reserve_b
        fraction = self._rng.uniform(0.8, 1.0)
        if mid > target:  # a is dear in the pool: sell a into it
            amount = int((math.sqrt(k / target) - pool.reserve_a) * fraction)
            return (pool.mint_a, amount) if amount > 0 else None
        amount = int((math.sqrt(k * target) - pool.reserve_b) * fraction)
        return (pool.mint_b, amount) if amount > 0 else None

    def _noise(self, pool: PoolState) -> tuple[str, int]:
        input_mint = pool.mint_a if self._rng.random() < 0.5 else pool.mint_b
        reserve_in, _ = pool.reserves(input_mint)
        share = min(0.01, self._rng.lognormvariate(math.log(0.0004), 1.0))
        return input_mint, max(1, int(reserve_in * share))

    def stats(self) -> dict[str, Any]:
        s = self._stats
        return {
            "ticks": s.ticks,
            "tradesSent": s.trades_sent,
            "tradesFailed": s.trades_failed,
            "arbitrageTrades": s.arbitrage_trades,
            "noiseTrades": s.noise_trades,
            "jumps": self.walk.jumps,
        }


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count
