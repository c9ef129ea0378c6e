"""Balance updates the moment a trade lands: on a trade's final event, the wallet's balances are
read from the chain and published on the `balances` channel.

(A chain-wide ingest that also catches transfers is the next step; this covers what the bot
itself does to a wallet, which is what a user watches right after pressing "buy".)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from solbot.errors import SolbotError
from solbot.ops import get_logger

__all__ = ["BalancePublisher"]

_log = get_logger("solbot.streams")
SOL_MINT = "So11111111111111111111111111111111111111112"
_FINAL = frozenset({"confirmed", "failed", "expired"})


class _TokenAccount(Protocol):
    @property
    def mint(self) -> str: ...

    @property
    def amount(self) -> int: ...


class _Holdings(Protocol):
    @property
    def slot(self) -> int: ...

    @property
    def lamports(self) -> int: ...

    @property
    def accounts(self) -> Sequence[_TokenAccount]: ...


class BalanceSink(Protocol):
    async def publish_balance(
        self, wallet: str, mint: str, amount: int, slot: int | None
    ) -> None: ...


class BalancePublisher:
    """A trade-event listener (`wallet:<pubkey>`, trade JSON) that publishes the wallet's
    balances (native SOL as the SOL mint, tokens summed per mint) once the trade is final."""

    def __init__(
        self, sink: BalanceSink, read_holdings: Callable[[str], Awaitable[_Holdings]]
    ) -> None:
        self._sink = sink
        self._read = read_holdings
        self._tasks: set[asyncio.Task[None]] = set()

    def on_trade_event(self, tag: str, trade: Mapping[str, Any]) -> None:
        if str(trade.get("status")) not in _FINAL:
            return
        task = asyncio.get_running_loop().create_task(self.publish(tag.removeprefix("wallet:")))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(self, wallet: str) -> None:
        try:
            holdings = await self._read(wallet)
        except SolbotError as exc:
            _log.warning("balance_read_failed", wallet=wallet, error=exc.message)
            return
        per_mint: dict[str, int] = {SOL_MINT: holdings.lamports}
        for account in holdings.accounts:
            if account.mint != SOL_MINT:
                per_mint[account.mint] = per_mint.get(account.mint, 0) + account.amount
        for mint, amount in per_mint.items():
            await self._sink.publish_balance(wallet, mint, amount, holdings.slot)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
