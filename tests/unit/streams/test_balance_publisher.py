"""Balances after a trade: the wallet's balances are published once the trade is final."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from solbot.errors import UpstreamUnavailable
from solbot.streams import BalancePublisher

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
WALLET = "9gcZuScMLFDXqoTRKXNDVamE7Zky7zhdhgx6dmrpzrnY"


@dataclass(frozen=True)
class Account:
    mint: str
    amount: int


@dataclass(frozen=True)
class Holdings:
    slot: int
    lamports: int
    accounts: tuple[Account, ...]


class Sink:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, int, int | None]] = []

    async def publish_balance(self, wallet: str, mint: str, amount: int, slot: int | None) -> None:
        self.published.append((wallet, mint, amount, slot))


async def test_a_confirmed_trade_publishes_every_balance_of_the_wallet() -> None:
    """SOL (lamports) and each token, summed over its accounts, at the slot read."""
    sink = Sink()

    async def read(wallet: str) -> Holdings:
        assert wallet == WALLET
        return Holdings(77, 1_500_000_000, (Account(USDC, 70), Account(USDC, 4)))

    publisher = BalancePublisher(sink, read)
    publisher.on_trade_event(f"wallet:{WALLET}", {"status": "confirmed"})
    await asyncio.sleep(0.01)
    assert sorted(sink.published) == sorted(
        [(WALLET, SOL, 1_500_000_000, 77), (WALLET, USDC, 74, 77)]
    )


async def test_open_trades_publish_nothing_and_a_failed_read_is_only_logged() -> None:
    """A trade still under way changes nothing yet; a chain that cannot be read is no crash."""
    sink = Sink()

    async def read(_wallet: str) -> Holdings:
        raise UpstreamUnavailable("down", source="rpc")

    publisher = BalancePublisher(sink, read)
    publisher.on_trade_event(f"wallet:{WALLET}", {"status": "sent"})
    publisher.on_trade_event(f"wallet:{WALLET}", {"status": "failed"})
    await asyncio.sleep(0.01)
    await publisher.aclose()
    assert sink.published == []
