"""The balance watcher (bounded, one subscription per account) and the CLI's table."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console

from solbot.portfolio import BalanceWatcher, render_portfolio_table


class FakeStream:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    async def next(self, timeout_s: float) -> Any | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None

    async def close(self) -> None:
        self.closed = True


class FakePubSub:
    def __init__(self) -> None:
        self.streams: dict[str, FakeStream] = {}

    async def subscribe_account(self, pubkey: str) -> FakeStream:
        stream = self.streams[pubkey] = FakeStream()
        return stream


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_notification_of_any_watched_account_reports_its_wallet() -> None:
    """The wallet and each token account are followed; a change of one names the wallet."""
    pubsub = FakePubSub()
    changed: list[str] = []
    watcher = BalanceWatcher(pubsub, changed.append)
    watcher.watch("wallet-a", ["token-account-1"])
    await _settle()
    assert set(pubsub.streams) == {"wallet-a", "token-account-1"}
    pubsub.streams["token-account-1"].queue.put_nowait((5, None))
    await _settle()
    assert changed == ["wallet-a"]
    await watcher.aclose()
    assert all(s.closed for s in pubsub.streams.values())


async def test_the_least_recently_read_wallet_is_dropped_past_the_bound() -> None:
    """With room for two wallets, reading a third stops following the oldest."""
    pubsub = FakePubSub()
    watcher = BalanceWatcher(pubsub, lambda _w: None, max_wallets=2)
    for wallet in ("a", "b", "a", "c"):
        watcher.watch(wallet, [])
        await _settle()
    assert watcher.watched_wallets == 2
    assert watcher.watched_accounts("b") == frozenset()
    assert pubsub.streams["b"].closed
    assert watcher.watched_accounts("a") == {"a"}
    await watcher.aclose()


async def test_accounts_no_longer_held_are_no_longer_followed() -> None:
    """A closed token account leaves the watch list at the next read."""
    pubsub = FakePubSub()
    watcher = BalanceWatcher(pubsub, lambda _w: None)
    watcher.watch("w", ["t1", "t2"])
    await _settle()
    watcher.watch("w", ["t2"])
    await _settle()
    assert watcher.watched_accounts("w") == {"w", "t2"}
    assert pubsub.streams["t1"].closed
    await watcher.aclose()


def test_the_table_shows_each_holding_its_price_source_and_the_total() -> None:
    """Symbols (or a shortened mint), missing prices said so, and the cache freshness."""
    portfolio = {
        "wallet": "W",
        "asOfSlot": 42,
        "holdings": [
            {
                "mint": "So11111111111111111111111111111111111111112",
                "symbol": "SOL",
                "uiAmount": "2",
                "price": {"usd": "150", "source": "stream:pyth"},
                "valueUsd": "300",
                "valueSol": "2",
            },
            {
                "mint": "2f5TzkeqA8gJUMAB7snqzDq4S4VxQW6Kb8Vq6W9Yx1aB",
                "symbol": None,
                "uiAmount": "1000",
                "price": None,
                "valueUsd": None,
                "valueSol": None,
            },
        ],
        "total": {"valueUsd": "300", "valueSol": "2", "unpriced": 1},
        "cache": {"tier": "l1", "ageMs": 12, "stale": False},
    }
    console = Console(width=140, record=True)
    console.print(render_portfolio_table(portfolio))
    text = console.export_text()
    assert "stream:pyth" in text and "300.00" in text
    assert "2f5T…x1aB" in text and "missing" in text
    assert "1 unpriced" in text
    assert "slot 42" in text and "cache l1, 12 ms old" in text
