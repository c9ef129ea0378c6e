"""Why a trade failed, in the user's words, from the chain's TransactionError or a venue's error
(pure; wire-formats §6, §9.6, §12)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from solbot.errors import UpstreamError, UpstreamUnavailable
from solbot.execution._model import FailureReason

__all__ = ["reason_for_transaction_error", "reason_for_venue_error"]

# Jupiter's SlippageToleranceExceeded (Anchor 6001 = 0x1771).
_SLIPPAGE_CUSTOM_CODES = frozenset({6001})
# SPL Token's InsufficientFunds and the system program's ResultWithNegativeLamports are both 1.
_INSUFFICIENT_FUNDS_CUSTOM_CODES = frozenset({1})
_INSUFFICIENT_FUNDS_ERRORS = frozenset(
    {"InsufficientFundsForFee", "InsufficientFundsForRent", "InsufficientFunds"}
)
_EXPIRED_ERRORS = frozenset({"BlockhashNotFound"})
_SLIPPAGE_MARKERS = ("slippage", "0x1771")


def _error_name(err: Any) -> str | None:
    if isinstance(err, str):
        return err
    if isinstance(err, dict) and len(err) == 1:
        return str(next(iter(err)))
    return None


def reason_for_transaction_error(err: Any, logs: Sequence[str] = ()) -> tuple[FailureReason, str]:
    """(reason, detail) for a non-null TransactionError JSON and, when known, its logs."""
    detail = f"transaction error: {err}"
    if any(marker in line.lower() for line in logs for marker in _SLIPPAGE_MARKERS):
        return FailureReason.SLIPPAGE_EXCEEDED, detail
    name = _error_name(err)
    if name in _EXPIRED_ERRORS:
        return FailureReason.EXPIRED, detail
    if name in _INSUFFICIENT_FUNDS_ERRORS:
        return FailureReason.INSUFFICIENT_FUNDS, detail
    if name == "InstructionError" and isinstance(err, dict):
        cause = err["InstructionError"]
        inner = cause[1] if isinstance(cause, list) and len(cause) == 2 else None
        if isinstance(inner, dict) and isinstance(inner.get("Custom"), int):
            code = inner["Custom"]
            if code in _SLIPPAGE_CUSTOM_CODES:
                return FailureReason.SLIPPAGE_EXCEEDED, detail
            if code in _INSUFFICIENT_FUNDS_CUSTOM_CODES:
                return FailureReason.INSUFFICIENT_FUNDS, detail
        if inner == "InsufficientFunds":
            return FailureReason.INSUFFICIENT_FUNDS, detail
    return FailureReason.TRANSACTION_FAILED, detail


def reason_for_venue_error(error: UpstreamError) -> tuple[FailureReason, str]:
    """(reason, detail) for a venue that would not build the swap."""
    venue_code = str(error.context.get("venue_code") or "").lower()
    text = f"{error.code} {venue_code} {error.message}".lower()
    if "slippage" in text or error.code == "REQUOTE_WORSE":
        return FailureReason.SLIPPAGE_EXCEEDED, error.message
    if "insufficient" in text:
        return FailureReason.INSUFFICIENT_FUNDS, error.message
    if isinstance(error, UpstreamUnavailable):
        return FailureReason.VENUE_UNAVAILABLE, error.message
    return FailureReason.VENUE_REJECTED, error.message
