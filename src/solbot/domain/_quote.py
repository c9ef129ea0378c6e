"""What a venue answers when asked for a price, and the ports the quote and trade code call.

Amounts are integers in base units. `VenueQuote.raw` is the venue's answer exactly as it came off
the wire: Jupiter and DFlow require the quote posted back unchanged to `/swap`, and a typed view
that drops a field it does not know (Jupiter's DynamicSwap `details`) breaks the swap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "PriceSource",
    "QuoteRequest",
    "QuoteSource",
    "RouteLeg",
    "SwapBuilder",
    "SwapMode",
    "SwapTransaction",
    "VenueQuote",
]

MAX_SLIPPAGE_BPS = 10_000


class SwapMode(StrEnum):
    """Which side of the trade is fixed: the amount paid (ExactIn) or the amount received."""

    EXACT_IN = "ExactIn"
    EXACT_OUT = "ExactOut"


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """One question to every source: how much `output_mint` for `amount` of `input_mint`?

    `amount` is the input for ExactIn and the output for ExactOut. `user_public_key` is optional:
    RFQ makers (Hashflow) build a ready transaction only when they know who trades.
    """

    input_mint: str
    output_mint: str
    amount: int
    slippage_bps: int = 50
    swap_mode: SwapMode = SwapMode.EXACT_IN
    user_public_key: str | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("amount must be a positive integer of base units")
        if not 0 <= self.slippage_bps <= MAX_SLIPPAGE_BPS:
            raise ValueError("slippage_bps must be between 0 and 10000")
        if self.input_mint == self.output_mint:
            raise ValueError("input_mint and output_mint must differ")


@dataclass(frozen=True, slots=True)
class RouteLeg:
    """One pool the route goes through; `venue` is the AMM or maker's label."""

    venue: str
    pool: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """One source's answer, typed for decisions, with the raw answer kept for the swap.

    `min_out_amount` is what the user receives at worst (after slippage); `max_in_amount` is what
    they pay at worst (differs from `in_amount` only for ExactOut). `executable` is False for an
    indicative answer (the Pyth oracle, an RFQ without a transaction): shown, never traded.
    `expires_at` is unix seconds, or None when the venue gives no expiry.
    `price_impact_pct` is a decimal fraction ("0.0012" is 0.12 %), None when the venue does not
    say.
    """

    source: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    min_out_amount: int
    max_in_amount: int
    swap_mode: SwapMode
    slippage_bps: int
    price_impact_pct: Decimal | None
    route_plan: tuple[RouteLeg, ...]
    hops: int
    context_slot: int | None
    executable: bool
    expires_at: float | None
    # The venue's JSON as received. Never mutate it: it is posted back to the venue as is.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    def is_expired(self, now_s: float) -> bool:
        """Whether the venue's own expiry has passed at `now_s` (unix seconds)."""
        return self.expires_at is not None and now_s >= self.expires_at


@dataclass(frozen=True, slots=True)
class SwapTransaction:
    """An unsigned (or maker-co-signed) transaction that carries out a quote.

    `transaction` is the serialized VersionedTransaction (already base64-decoded).
    `last_valid_block_height` is None when the venue does not say (an RFQ maker's transaction):
    the sender then derives it from the transaction's blockhash.
    """

    source: str
    transaction: bytes = field(repr=False)
    last_valid_block_height: int | None
    prioritization_fee_lamports: int | None = None
    compute_unit_limit: int | None = None
    expires_at: float | None = None


class QuoteSource(Protocol):
    """A venue that answers quote requests. Raises `solbot.errors.UpstreamError` subclasses."""

    name: str

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote: ...


class SwapBuilder(Protocol):
    """A venue that turns one of its own quotes into a transaction for `user_public_key`."""

    name: str

    async def build_swap(
        self,
        quote: VenueQuote,
        user_public_key: str,
        *,
        priority_fee_lamports: int | None,
        timeout_s: float,
    ) -> SwapTransaction: ...


class PriceSource(Protocol):
    """USD prices by mint; mints the source cannot price are absent from the answer."""

    name: str

    async def prices(self, mints: Sequence[str], timeout_s: float) -> dict[str, float]: ...
