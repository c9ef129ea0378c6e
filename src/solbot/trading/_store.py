"""The executor's `TradeStore` port over the ledger: each executor state is one ledger transition.

What the ledger keeps of a trade the executor drives (every write before the effect it precedes):
built -> the venue, quoted amounts, compute budget, attempt; signed -> the signature, its last
valid block height and the signed bytes; confirmed | failed -> the fill read from the chain
(actual amounts, base and priority fees, rent, slot) and any failed attempt's fees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from solders.transaction import VersionedTransaction

from solbot.domain import SwapMode, VenueQuote
from solbot.execution import (
    OPEN_STATES,
    FailureReason,
    StaleTrade,
    TradeOptions,
    TradeRecord,
    TradeState,
    read_compute_budget,
)
from solbot.ledger import FailureReason as LedgerFailure
from solbot.ledger import InvalidTransition, Trade, TradeRepository, TradeStatus

__all__ = [
    "DEFAULT_MAX_PRIORITY_FEE_LAMPORTS",
    "LedgerTradeStore",
    "ledger_failure",
    "trade_record",
]

#: the cap on a trade's priority fee when the user names none (0.001 SOL)
DEFAULT_MAX_PRIORITY_FEE_LAMPORTS = 1_000_000
_MAX_DETAIL = 400
SOL_MINT = "So11111111111111111111111111111111111111112"


def ledger_failure(reason: FailureReason, detail: str | None) -> LedgerFailure:
    """The executor's reason as the ledger keeps it: a stable code and a sentence for the user."""
    message = reason.message
    if detail:
        shown = detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."
        message = f"{message} ({shown})"
    return LedgerFailure(reason.value.upper(), message)


def _options(trade: Trade) -> TradeOptions:
    cap = trade.request.max_priority_fee_lamports
    fee = trade.request.priority_fee
    if cap is None:
        # An exact priority fee asked for is also its own cap.
        cap = fee if isinstance(fee, int) else DEFAULT_MAX_PRIORITY_FEE_LAMPORTS
    return TradeOptions(max_priority_fee_lamports=cap)


def _stored_quote(trade: Trade) -> VenueQuote:
    """What a restarted executor needs of the quote: the pair and what was quoted. The venue's raw
    answer is not kept (a resumed trade never builds again)."""
    request = trade.request
    quoted_in = trade.quoted_in_amount if trade.quoted_in_amount is not None else request.amount
    return VenueQuote(
        source=trade.source or "unknown",
        input_mint=request.input_mint,
        output_mint=request.output_mint,
        in_amount=quoted_in,
        out_amount=trade.quoted_out_amount or 0,
        min_out_amount=trade.quoted_min_out_amount or 0,
        max_in_amount=quoted_in,
        swap_mode=SwapMode.EXACT_IN,
        slippage_bps=request.slippage_bps,
        price_impact_pct=None,
        route_plan=(),
        hops=0,
        context_slot=None,
        executable=True,
        expires_at=None,
    )


def trade_record(trade: Trade, quote: VenueQuote | None = None) -> TradeRecord:
    """The ledger's trade as the executor drives it (`quote` when the caller holds the venue's)."""
    transaction: bytes | None = None
    if trade.signature is not None:
        for sent in trade.signatures:
            if sent.signature == trade.signature:
                transaction = sent.transaction
    state = TradeState(str(trade.status))
    return TradeRecord(
        trade_id=trade.id,
        wallet=trade.wallet,
        quote=quote if quote is not None else _stored_quote(trade),
        state=state,
        options=_options(trade),
        attempt=trade.attempt or 1,
        transaction=transaction if state in (TradeState.SIGNED, TradeState.SENT) else None,
        signature=trade.signature if state in (TradeState.SIGNED, TradeState.SENT) else None,
        last_valid_block_height=trade.last_valid_block_height,
        failed_attempt_fees_lamports=trade.failed_attempt_fees_lamports or 0,
    )


def _fields(record: TradeRecord) -> dict[str, Any]:
    state = record.state
    fields: dict[str, Any] = {}
    if state is TradeState.BUILT:
        quote = record.quote
        fields.update(
            source=quote.source,
            quoted_in_amount=quote.in_amount,
            quoted_out_amount=quote.out_amount,
            quoted_min_out_amount=quote.min_out_amount,
            last_valid_block_height=record.last_valid_block_height,
            attempt=record.attempt,
            failed_attempt_fees_lamports=record.failed_attempt_fees_lamports,
        )
        if record.transaction is not None:
            message = VersionedTransaction.from_bytes(record.transaction).message
            budget = read_compute_budget(message)
            fields.update(
                compute_unit_limit=budget.unit_limit,
                compute_unit_price_micro_lamports=budget.unit_price_micro_lamports,
            )
    elif state is TradeState.SIGNED:
        fields.update(
            signature=record.signature, last_valid_block_height=record.last_valid_block_height
        )
    elif state.is_final:
        fields["failed_attempt_fees_lamports"] = record.failed_attempt_fees_lamports
        fill = record.fill
        if fill is not None:
            fields.update(
                actual_in_amount=fill.in_amount if fill.succeeded else 0,
                actual_out_amount=fill.out_amount if fill.succeeded else 0,
                base_fee_lamports=fill.base_fee_lamports,
                priority_fee_lamports=fill.priority_fee_lamports,
                rent_lamports=fill.rent_lamports,
                slot=fill.slot,
            )
    return fields


UsdPrices = Callable[[Sequence[str]], Mapping[str, Decimal]]
"""USD prices of the mints it knows a fresh price for (the quotes' oracle board)."""


class LedgerTradeStore:
    """`TradeStore` over `ledger.trades`; a lost compare-and-set is `StaleTrade`.

    With `usd_prices`, a confirmed trade also records what its legs (and SOL) were worth in USD
    when it landed, so P&L in USD never has to guess a past price."""

    def __init__(self, trades: TradeRepository, *, usd_prices: UsdPrices | None = None) -> None:
        self._trades = trades
        self._usd_prices = usd_prices

    async def transition(self, record: TradeRecord, *, expected: TradeState) -> None:
        failure = (
            ledger_failure(record.failure, record.failure_detail)
            if record.failure is not None
            else None
        )
        try:
            await self._trades.transition(
                record.trade_id,
                TradeStatus(str(record.state)),
                expected_from=TradeStatus(str(expected)),
                failure=failure,
                signed_transaction=record.transaction
                if record.state is TradeState.SIGNED
                else None,
                **_fields(record),
                **self._fill_prices(record),
            )
        except InvalidTransition as exc:
            raise StaleTrade(exc.message, trade_id=record.trade_id) from None

    def _fill_prices(self, record: TradeRecord) -> dict[str, Any]:
        if self._usd_prices is None or record.state is not TradeState.CONFIRMED:
            return {}
        mints = [record.quote.input_mint, record.quote.output_mint, SOL_MINT]
        prices = self._usd_prices(mints)
        return {"fill_usd_prices": dict(prices)} if prices else {}

    async def open_trades(self) -> Sequence[TradeRecord]:
        return [
            trade_record(trade)
            for trade in await self._trades.open_trades()
            if TradeState(str(trade.status)) in OPEN_STATES
        ]
