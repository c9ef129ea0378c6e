"""Balance changes of active wallets, from `accountSubscribe`: one subscription per watched
account (the wallet itself, for SOL, and each of its token accounts).

A wallet becomes active when its portfolio is computed; the watcher keeps at most
`max_wallets` of them (least recently read dropped first, subscriptions closed) and at most
`max_accounts` accounts per wallet. Notifications are a latency optimisation: a change that
slips between the read and the subscription, or while the socket is down, is caught by the
portfolio's TTL. A new token account shows up as a change of the wallet's own lamports (it pays
the rent), and the next computation subscribes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from solbot.ops import get_logger

__all__ = ["AccountStream", "AccountSubscriber", "BalanceWatcher"]

_log = get_logger("solbot.portfolio.watch")


class AccountStream(Protocol):
    async def next(self, timeout_s: float) -> Any | None: ...

    async def close(self) -> None: ...


class AccountSubscriber(Protocol):
    """`solbot.rpc.PubSubClient`'s account side."""

    async def subscribe_account(self, pubkey: str) -> Any: ...


class _Watched:
    __slots__ = ("tasks",)

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}


class BalanceWatcher:
    def __init__(
        self,
        pubsub: AccountSubscriber,
        on_change: Callable[[str], None],
        *,
        max_wallets: int = 1_000,
        max_accounts: int = 64,
        idle_read_s: float = 30.0,
    ) -> None:
        self._pubsub = pubsub
        self._on_change = on_change
        self._max_wallets = max_wallets
        self._max_accounts = max_accounts
        self._idle_read_s = idle_read_s
        self._wallets: OrderedDict[str, _Watched] = OrderedDict()
        self._closed = False

    @property
    def watched_wallets(self) -> int:
        return len(self._wallets)

    def watched_accounts(self, wallet: str) -> frozenset[str]:
        watched = self._wallets.get(wallet)
        return frozenset(watched.tasks) if watched is not None else frozenset()

    def watch(self, wallet: str, accounts: Iterable[str]) -> None:
        """Follow `wallet` and `accounts` (the wallet's own address is always followed)."""
        if self._closed:
            return
        watched = self._wallets.get(wallet)
        if watched is None:
            watched = self._wallets[wallet] = _Watched()
        self._wallets.move_to_end(wallet)
        wanted = list(dict.fromkeys([wallet, *accounts]))[: self._max_accounts]
        for address in set(watched.tasks) - set(wanted):
            watched.tasks.pop(address).cancel()
        for address in wanted:
            if address not in watched.tasks:
                watched.tasks[address] = asyncio.create_task(
                    self._follow(wallet, address), name=f"portfolio-watch-{address[:8]}"
                )
        while len(self._wallets) > self._max_wallets:
            _old, dropped = self._wallets.popitem(last=False)
            for task in dropped.tasks.values():
                task.cancel()

    def forget(self, wallet: str) -> None:
        watched = self._wallets.pop(wallet, None)
        if watched is not None:
            for task in watched.tasks.values():
                task.cancel()

    async def _follow(self, wallet: str, address: str) -> None:
        stream: Any = None
        try:
            stream = await self._pubsub.subscribe_account(address)
            while True:
                notification = await stream.next(self._idle_read_s)
                if notification is not None:
                    self._on_change(wallet)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a watcher's failure only costs latency: the TTL remains
            _log.warning("balance_watch_failed", wallet=wallet, error_type=type(exc).__name__)
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await stream.close()

    async def aclose(self) -> None:
        self._closed = True
        tasks = [t for w in self._wallets.values() for t in w.tasks.values()]
        self._wallets.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
