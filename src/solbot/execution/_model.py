"""What a trade is while the executor drives it, and the ports it drives it through.

States: pending -> built -> signed -> sent -> confirmed | failed | expired. The executor writes
each state through `TradeStore` BEFORE the external effect that follows it (signing, sending), so
a restarted executor knows every signature that may be on the wire. A slippage failure that
landed on chain (the first transaction is final, it can never land again) may go sent -> built
for one re-quoted attempt when the user allowed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from solders.transaction import VersionedTransaction

from solbot.domain import VenueQuote
from solbot.errors import ExecutionError

__all__ = [
    "OPEN_STATES",
    "FailureReason",
    "Fill",
    "Requoter",
    "Signer",
    "StaleTrade",
    "TradeOptions",
    "TradeRecord",
    "TradeState",
    "TradeStore",
]


class TradeState(StrEnum):
    PENDING = "pending"
    BUILT = "built"
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in (TradeState.CONFIRMED, TradeState.FAILED, TradeState.EXPIRED)


#: States in which a trade may have a transaction on the wire (or about to be): resumed on start.
OPEN_STATES = frozenset({TradeState.BUILT, TradeState.SIGNED, TradeState.SENT})


class FailureReason(StrEnum):
    """Why a trade did not fill, in words a user understands (`message`)."""

    SLIPPAGE_EXCEEDED = "slippage_exceeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED = "expired"
    REJECTED_BY_CHECK = "rejected_by_check"
    VENUE_UNAVAILABLE = "venue_unavailable"
    VENUE_REJECTED = "venue_rejected"
    CHAIN_UNAVAILABLE = "chain_unavailable"
    TRANSACTION_FAILED = "transaction_failed"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    FailureReason.SLIPPAGE_EXCEEDED: "The price moved beyond your slippage tolerance.",
    FailureReason.INSUFFICIENT_FUNDS: "The wallet does not hold enough to pay for this trade.",
    FailureReason.EXPIRED: "The transaction was not included before it expired; nothing moved.",
    FailureReason.REJECTED_BY_CHECK: (
        "The venue's transaction did not match the trade and was refused before signing."
    ),
    FailureReason.VENUE_UNAVAILABLE: "The venue could not build the trade right now.",
    FailureReason.VENUE_REJECTED: "The venue refused to build this trade.",
    FailureReason.CHAIN_UNAVAILABLE: (
        "The network could not be reached to check the trade; nothing was sent."
    ),
    FailureReason.TRANSACTION_FAILED: "The transaction failed on chain.",
}


@dataclass(frozen=True, slots=True)
class TradeOptions:
    """What the user allowed for this trade."""

    #: cap on the priority fee (CU price x CU limit), lamports
    max_priority_fee_lamports: int = 1_000_000
    #: re-quote and retry once after a slippage failure
    requote_on_slippage: bool = True


@dataclass(frozen=True, slots=True)
class Fill:
    """What the trade did on chain, read from the landed transaction (never from the quote).

    `in_amount` is what the wallet gave of `input_mint`, `out_amount` what it got of
    `output_mint`, in base units. For native SOL these are net of the transaction fee and of
    `rent_lamports`, the rent deposited into token accounts the wallet now owns (refundable when
    they are closed). `fee_lamports` = `base_fee_lamports` (5000 per signature) +
    `priority_fee_lamports`. A failed transaction has zero amounts and still pays its fee.
    """

    signature: str
    slot: int
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    fee_lamports: int
    base_fee_lamports: int
    priority_fee_lamports: int
    rent_lamports: int
    err: Any = None

    @property
    def succeeded(self) -> bool:
        return self.err is None


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One trade as the executor sees and persists it.

    `transaction` is the current attempt's bytes: unsigned once built, signed from `signed` on.
    `signature` is set from `signed` on. `failed_attempt_fees_lamports` is what earlier attempts
    that landed and failed cost in fees.
    """

    trade_id: str
    wallet: str
    quote: VenueQuote
    state: TradeState = TradeState.PENDING
    options: TradeOptions = TradeOptions()
    attempt: int = 1
    transaction: bytes | None = None
    signature: str | None = None
    last_valid_block_height: int | None = None
    fill: Fill | None = None
    failure: FailureReason | None = None
    failure_detail: str | None = None
    failed_attempt_fees_lamports: int = 0


class StaleTrade(ExecutionError):
    """The stored trade is no longer in the state this executor expected: someone else moved it."""

    code = "STALE_TRADE"


class TradeStore(Protocol):
    """Where the executor keeps trades. The ledger implements it."""

    async def transition(self, record: TradeRecord, *, expected: TradeState) -> None:
        """Store `record` (its state and fields) if the stored trade is still in `expected`;
        raise `StaleTrade` otherwise. Durable when it returns."""
        ...

    async def open_trades(self) -> Sequence[TradeRecord]:
        """Every trade in an `OPEN_STATES` state."""
        ...


class Signer(Protocol):
    """The wallet's key: adds its signature to a transaction and returns it (others kept)."""

    @property
    def public_key(self) -> str: ...

    def sign_transaction(self, transaction: VersionedTransaction) -> VersionedTransaction: ...


class Requoter(Protocol):
    """Fresh quotes for a retry: the same pair, amount and slippage as `quote`."""

    async def requote(self, quote: VenueQuote, wallet: str, *, timeout_s: float) -> VenueQuote: ...
