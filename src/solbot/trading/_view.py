"""A trade as users see it (`GET /v1/trades/{id}`, trade events): amounts as digit strings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from solbot.ledger import Trade

__all__ = ["trade_json"]


def _amount(value: int | None) -> str | None:
    return None if value is None else str(value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def trade_json(trade: Trade) -> dict[str, Any]:
    """Quoted amounts come from the venue's quote; actual ones from the confirmed transaction's
    balances. `fees.totalLamports` is every fee the trade paid, failed attempts included."""
    request = trade.request
    paid = [
        trade.base_fee_lamports,
        trade.priority_fee_lamports,
        trade.failed_attempt_fees_lamports,
    ]
    settled = any(fee is not None for fee in paid)
    return {
        "tradeId": trade.id,
        "wallet": trade.wallet,
        "status": str(trade.status),
        "inputMint": request.input_mint,
        "outputMint": request.output_mint,
        "amount": str(request.amount),
        "slippageBps": request.slippage_bps,
        "quoteId": request.quote_id,
        "priorityFee": request.priority_fee
        if request.priority_fee == "auto"
        else str(request.priority_fee),
        "maxPriorityFeeLamports": _amount(request.max_priority_fee_lamports),
        "source": trade.source,
        "signature": trade.signature,
        "signatures": [sent.signature for sent in trade.signatures],
        "attempt": trade.attempt,
        "lastValidBlockHeight": trade.last_valid_block_height,
        "slot": trade.slot,
        "quoted": {
            "inAmount": _amount(trade.quoted_in_amount),
            "outAmount": _amount(trade.quoted_out_amount),
            "minOutAmount": _amount(trade.quoted_min_out_amount),
        },
        "actual": None
        if trade.actual_in_amount is None and trade.actual_out_amount is None
        else {
            "inAmount": _amount(trade.actual_in_amount),
            "outAmount": _amount(trade.actual_out_amount),
            "rentLamports": None if trade.rent_lamports is None else str(trade.rent_lamports),
        },
        "fees": {
            "baseLamports": _amount(trade.base_fee_lamports),
            "priorityLamports": _amount(trade.priority_fee_lamports),
            "failedAttemptsLamports": _amount(trade.failed_attempt_fees_lamports),
            "totalLamports": str(sum(fee or 0 for fee in paid)) if settled else None,
            "computeUnitLimit": trade.compute_unit_limit,
            "computeUnitPriceMicroLamports": _amount(trade.compute_unit_price_micro_lamports),
        },
        # What the legs (and SOL) were worth in USD when the trade landed, where known.
        "usdPricesAtFill": None
        if trade.fill_usd_prices is None
        else {mint: str(price) for mint, price in trade.fill_usd_prices.items()},
        "failure": None
        if trade.failure is None
        else {"code": trade.failure.code, "message": trade.failure.message},
        "createdAt": _time(trade.created_at),
        "updatedAt": _time(trade.updated_at),
        "sentAt": _time(trade.sent_at),
        "confirmedAt": _time(trade.confirmed_at),
    }
