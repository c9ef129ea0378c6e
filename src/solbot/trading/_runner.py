"""Runs accepted trades in the background: bounded concurrency, one trade per wallet at a time,
open trades settled at start-up and by a periodic sweep, everything cancelled on shutdown.

One trade per wallet at a time because two swaps from one wallet race for its balance: the
second one's check would read balances the first is about to move, and one of them would fail
on chain having paid its fee.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from solders.transaction import VersionedTransaction

from solbot.domain import VenueQuote
from solbot.errors import SolbotError
from solbot.execution import StaleTrade, TradeExecutor, TradeRecord
from solbot.keystore import Signer as WalletKey
from solbot.ledger import FailureReason as LedgerFailure
from solbot.ledger import InvalidTransition, Trade, TradeRepository, TradeStatus
from solbot.ops import get_logger
from solbot.trading._events import TradeEvents
from solbot.trading._store import trade_record
from solbot.trading._view import trade_json

__all__ = ["TradeRunner", "WalletKeys"]

_log = get_logger("solbot.trading")
_BEFORE_SIGNING = (TradeStatus.PENDING, TradeStatus.BUILT)
_MAYBE_ON_CHAIN = (TradeStatus.SIGNED, TradeStatus.SENT)


class WalletKeys(Protocol):
    """The keystore's wallets (`WalletService`): a signer for the caller's own wallet only."""

    def signer(self, user_id: str, pubkey: str) -> AbstractAsyncContextManager[WalletKey]: ...


class _WalletSigner:
    """The keystore's signer as the executor's `Signer` port (its public key as a string)."""

    __slots__ = ("_key",)

    def __init__(self, key: WalletKey) -> None:
        self._key = key

    @property
    def public_key(self) -> str:
        return str(self._key.pubkey)

    def sign_transaction(self, transaction: VersionedTransaction) -> VersionedTransaction:
        return self._key.sign_transaction(transaction)


class TradeRunner:
    """`runner.submit(trade, quote)` after the trade is stored pending; `await runner.start()`
    once (resumes what a previous run left open); `await runner.aclose()` on shutdown."""

    def __init__(
        self,
        executor: TradeExecutor,
        trades: TradeRepository,
        wallets: WalletKeys,
        events: TradeEvents,
        *,
        max_concurrency: int = 32,
        sweep_interval_s: float = 10.0,
        orphan_after_s: float = 60.0,
        stale_after_s: float = 60.0,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._executor = executor
        self._trades = trades
        self._wallets = wallets
        self._events = events
        self._slots = asyncio.Semaphore(max_concurrency)
        self._sweep_interval_s = sweep_interval_s
        self._orphan_after = dt.timedelta(seconds=orphan_after_s)
        self._stale_after = dt.timedelta(seconds=stale_after_s)
        self._now = wall_clock
        self._wallet_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Settle what a previous run left: signed and sent trades at once (their signatures may
        be on the chain), pending and built ones once they are orphaned; then sweep periodically."""
        await self.sweep(at_start=True)
        if self._sweep_interval_s > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="trade-sweeper")

    async def aclose(self) -> None:
        """Cancel every trade task: a trade interrupted after signing stays open in the ledger
        and is settled by the next start (its signature was written before any send)."""
        self._closed = True
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def in_flight(self) -> frozenset[str]:
        """Ids of the trades this runner is carrying out or has queued."""
        return frozenset(self._in_flight)

    async def idle(self) -> None:
        """Wait until no trade task is running (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- scheduling -------------------------------------------------------------------------

    def submit(self, trade: Trade, quote: VenueQuote) -> None:
        """Carry out a pending trade in the background with the venue quote it was accepted on."""
        self._spawn(trade, self._execute(trade, quote), name=f"trade-{trade.id}")

    def _spawn(self, trade: Trade, work: Coroutine[Any, Any, None], *, name: str) -> None:
        if self._closed or trade.id in self._in_flight:
            work.close()
            return
        self._in_flight.add(trade.id)
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight.discard(trade.id)

        task.add_done_callback(done)

    @contextlib.asynccontextmanager
    async def _wallet_turn(self, wallet: str) -> AsyncIterator[None]:
        """This wallet's turn (FIFO among its trades), then one of the concurrency slots."""
        lock, users = self._wallet_locks.get(wallet, (asyncio.Lock(), 0))
        self._wallet_locks[wallet] = (lock, users + 1)
        try:
            async with lock, self._slots:
                yield
        finally:
            lock, users = self._wallet_locks[wallet]
            if users <= 1:
                del self._wallet_locks[wallet]
            else:
                self._wallet_locks[wallet] = (lock, users - 1)

    # ---- one trade --------------------------------------------------------------------------

    async def _execute(self, trade: Trade, quote: VenueQuote) -> None:
        async with self._wallet_turn(trade.wallet):
            try:
                async with self._wallets.signer(trade.user_id, trade.wallet) as key:
                    final = await self._executor.execute(
                        trade_record(trade, quote), _WalletSigner(key)
                    )
            except StaleTrade as exc:
                _log.warning("trade_taken_elsewhere", trade_id=trade.id, detail=exc.message)
                return
            except Exception as exc:  # the trade must end in a state, whatever broke
                await self._abandon(trade, exc)
                return
        await self._announce_if_final(final)

    async def _resume(self, trade: Trade) -> None:
        async with self._wallet_turn(trade.wallet):
            try:
                final = await self._executor.resume(trade_record(trade))
            except StaleTrade as exc:
                _log.info("trade_settled_elsewhere", trade_id=trade.id, detail=exc.message)
                return
            except Exception as exc:
                _log.error("trade_resume_failed", trade_id=trade.id, **_error(exc))
                return
        await self._announce_if_final(final)

    async def _abandon(self, trade: Trade, exc: BaseException) -> None:
        """An unexpected error: a trade never signed ends failed (nothing was sent); one that may
        be on the chain stays open for the sweep to settle against the chain."""
        _log.error("trade_execution_error", trade_id=trade.id, **_error(exc))
        try:
            current = await self._trades.trade(trade.id)
            if current.status in _BEFORE_SIGNING:
                await self._trades.transition(
                    trade.id,
                    TradeStatus.FAILED,
                    expected_from=current.status,
                    failure=LedgerFailure(
                        "INTERNAL_ERROR",
                        "The bot could not carry out this trade; nothing was sent.",
                    ),
                )
                await self._announce(trade.id)
        except (SolbotError, OSError) as again:
            _log.error("trade_abandon_failed", trade_id=trade.id, **_error(again))

    async def _announce_if_final(self, record: TradeRecord) -> None:
        if record.state.is_final:
            await self._announce(record.trade_id)

    async def _announce(self, trade_id: str) -> None:
        trade = await self._trades.trade(trade_id)
        await self._events.publish(trade.wallet, trade_json(trade))

    # ---- sweeping ---------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            try:
                await self.sweep()
            except (SolbotError, OSError) as exc:
                _log.warning("trade_sweep_failed", **_error(exc))

    async def sweep(self, *, at_start: bool = False) -> None:
        """Settle open trades nobody here is carrying out: signed and sent ones against the chain
        (at start at once, later once quiet for `stale_after_s`); pending and built ones, orphaned
        by a dead process for `orphan_after_s`, end expired: none of them was ever signed."""
        now = self._now()
        for trade in await self._trades.open_trades():
            if trade.id in self._in_flight:
                continue
            quiet = now - trade.updated_at
            if trade.status in _MAYBE_ON_CHAIN and (at_start or quiet >= self._stale_after):
                self._spawn(trade, self._resume(trade), name=f"resume-{trade.id}")
            elif trade.status in _BEFORE_SIGNING and quiet >= self._orphan_after:
                await self._expire_orphan(trade)

    async def _expire_orphan(self, trade: Trade) -> None:
        try:
            await self._trades.transition(
                trade.id,
                TradeStatus.EXPIRED,
                expected_from=trade.status,
                failure=LedgerFailure(
                    "EXPIRED",
                    "The trade was interrupted before its transaction was signed; nothing was "
                    "sent.",
                ),
            )
        except InvalidTransition:
            return  # someone moved it meanwhile: theirs to finish
        _log.warning("trade_orphan_expired", trade_id=trade.id, status=str(trade.status))
        await self._announce(trade.id)


def _error(exc: BaseException) -> dict[str, Any]:
    """What of an error goes into a log line: our own messages (never key material), else only
    the type (a foreign exception's text is not ours to vouch for)."""
    if isinstance(exc, SolbotError):
        return {"error_type": type(exc).__name__, "error": exc.message}
    return {"error_type": type(exc).__name__}
