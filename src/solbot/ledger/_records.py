"""What the ledger hands out: frozen records, detached from any database session."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from solbot.errors import InvalidRequest
from solbot.ledger._states import FailureReason, TradeStatus
from solbot.ledger._types import U64_MAX

__all__ = ["PriorityFee", "SentSignature", "Trade", "TradeEvent", "TradeRequest"]

PriorityFee = Literal["auto"] | int


@dataclass(frozen=True, slots=True)
class TradeRequest:
    """What the user asked for (`POST /v1/trades`), already validated at the API's edge."""

    wallet: str
    input_mint: str
    output_mint: str
    amount: int
    slippage_bps: int
    quote_id: str | None = None
    priority_fee: PriorityFee = "auto"
    max_priority_fee_lamports: int | None = None

    def __post_init__(self) -> None:
        # Column widths are checked here so that no input can reach the database as a 500.
        for name, value, code in (
            ("wallet", self.wallet, "INVALID_WALLET"),
            ("inputMint", self.input_mint, "INVALID_MINT"),
            ("outputMint", self.output_mint, "INVALID_MINT"),
        ):
            if not 32 <= len(value) <= 44:
                raise InvalidRequest(f"{name} must be a base58 address", code=code, field=name)
        if self.quote_id is not None and not 1 <= len(self.quote_id) <= 128:
            raise InvalidRequest(
                "quoteId must be 1 to 128 characters", code="INVALID_QUOTE_ID", field="quoteId"
            )
        if not _is_u64(self.amount) or self.amount == 0:
            raise InvalidRequest(
                "amount must be a whole number of base units, 1 to 2**64-1",
                code="INVALID_AMOUNT",
                field="amount",
            )
        if not (isinstance(self.slippage_bps, int) and 0 <= self.slippage_bps <= 10_000):
            raise InvalidRequest(
                "slippageBps must be within 0..10000", code="INVALID_SLIPPAGE", field="slippageBps"
            )
        if self.priority_fee != "auto" and not _is_u64(self.priority_fee):
            raise InvalidRequest(
                'priorityFee must be "auto" or a whole number of lamports',
                code="INVALID_PRIORITY_FEE",
                field="priorityFee",
            )
        if self.max_priority_fee_lamports is not None and not _is_u64(
            self.max_priority_fee_lamports
        ):
            raise InvalidRequest(
                "maxPriorityFeeLamports must be a whole number of lamports",
                code="INVALID_PRIORITY_FEE",
                field="maxPriorityFeeLamports",
            )

    def fingerprint(self) -> str:
        """Equal for equal requests: a reused Idempotency-Key must come with the same request."""
        canonical = json.dumps(
            {
                "wallet": self.wallet,
                "inputMint": self.input_mint,
                "outputMint": self.output_mint,
                "amount": str(self.amount),
                "slippageBps": self.slippage_bps,
                "quoteId": self.quote_id,
                "priorityFee": str(self.priority_fee),
                "maxPriorityFeeLamports": (
                    None
                    if self.max_priority_fee_lamports is None
                    else str(self.max_priority_fee_lamports)
                ),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _is_u64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX


@dataclass(frozen=True, slots=True)
class SentSignature:
    """A signature that may be on the chain: written before its transaction is sent."""

    signature: str
    last_valid_block_height: int
    recorded_at: datetime
    transaction: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Trade:
    id: str
    user_id: str
    idempotency_key: str
    request: TradeRequest
    status: TradeStatus
    failure: FailureReason | None
    source: str | None
    quote_id: str | None
    signature: str | None
    last_valid_block_height: int | None
    quoted_in_amount: int | None
    quoted_out_amount: int | None
    quoted_min_out_amount: int | None
    actual_in_amount: int | None
    actual_out_amount: int | None
    base_fee_lamports: int | None
    priority_fee_lamports: int | None
    compute_unit_limit: int | None
    compute_unit_price_micro_lamports: int | None
    slot: int | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    confirmed_at: datetime | None
    signatures: tuple[SentSignature, ...]
    #: net rent parked in token accounts the wallet owns (negative: a closed account refunded it)
    rent_lamports: int | None = None
    #: fees of earlier attempts that landed and failed (slippage, before one re-quoted attempt)
    failed_attempt_fees_lamports: int | None = None
    #: 1, or 2 for the re-quoted attempt
    attempt: int | None = None
    #: USD price per mint of the legs (and SOL) when the trade confirmed, where known
    fill_usd_prices: Mapping[str, Decimal] | None = None

    @property
    def wallet(self) -> str:
        return self.request.wallet

    @property
    def terminal(self) -> bool:
        return self.status.terminal


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """One line of a trade's append-only audit trail."""

    id: int
    trade_id: str
    at: datetime
    kind: Literal["created", "transition", "signature"]
    from_status: TradeStatus | None
    to_status: TradeStatus
    details: dict[str, Any]
