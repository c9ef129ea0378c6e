"""Helpers of the venue tests: a frozen clock, the running venues, balances, executing swaps."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.sim.chain import SimChain
from solbot.sim.chain._spl import associated_token_address, decode_token_account
from solbot.sim.faults import FaultBook
from solbot.sim.market import DemoWallet, Market, user_signed

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


class FrozenClock:
    """A wall clock that moves only when told (rate-limit windows become deterministic)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Venues:
    url: str
    chain: SimChain
    market: Market
    faults: FaultBook
    clock: FrozenClock
    client: httpx.AsyncClient

    def balance(self, owner: Pubkey, mint: str) -> int:
        """Spendable balance: lamports for SOL, the ATA's amount for a token."""
        if mint == SOL:
            return self.chain.get_balance(owner)
        account = self.chain.get_account(associated_token_address(owner, Pubkey.from_string(mint)))
        decoded = decode_token_account(account)
        return 0 if decoded is None else decoded.amount

    def execute(self, swap_transaction_b64: str, wallet: DemoWallet) -> Signature:
        """Sign a venue's swap as the wallet and land it on the chain."""
        tx = VersionedTransaction.from_bytes(base64.b64decode(swap_transaction_b64))
        return self.chain.send(user_signed(tx, wallet.keypair))
