"""The trade state machine, pure: which transitions exist, and why a trade failed.

    pending -> built -> signed -> sent -> confirmed
       |         |        |       |
       +---------+--------+-------+----> failed | expired

`signed -> confirmed` exists for recovery: a process killed between sending and writing `sent`
finds the signature confirmed on restart. `sent -> built` is the one way back: a transaction that
landed and failed on slippage can never land again, so one re-quoted attempt may be built (its
signature joins the trade's signatures). A terminal state never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from solbot.errors import SolbotError

__all__ = [
    "FailureReason",
    "InvalidTransition",
    "TradeStatus",
    "can_transition",
    "check_transition",
]


class TradeStatus(StrEnum):
    PENDING = "pending"
    BUILT = "built"
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({TradeStatus.CONFIRMED, TradeStatus.FAILED, TradeStatus.EXPIRED})
_ENDINGS = frozenset({TradeStatus.FAILED, TradeStatus.EXPIRED})
_NEXT: dict[TradeStatus, frozenset[TradeStatus]] = {
    TradeStatus.PENDING: frozenset({TradeStatus.BUILT}) | _ENDINGS,
    TradeStatus.BUILT: frozenset({TradeStatus.SIGNED}) | _ENDINGS,
    TradeStatus.SIGNED: frozenset({TradeStatus.SENT, TradeStatus.CONFIRMED}) | _ENDINGS,
    TradeStatus.SENT: frozenset({TradeStatus.CONFIRMED, TradeStatus.BUILT}) | _ENDINGS,
    TradeStatus.CONFIRMED: frozenset(),
    TradeStatus.FAILED: frozenset(),
    TradeStatus.EXPIRED: frozenset(),
}


class InvalidTransition(SolbotError):
    """A trade was asked to move where the state machine does not go (a bug, or a lost race)."""

    code = "INVALID_TRANSITION"


def can_transition(current: TradeStatus, to: TradeStatus) -> bool:
    return to in _NEXT[current]


def check_transition(trade_id: str, current: TradeStatus, to: TradeStatus) -> None:
    if not can_transition(current, to):
        why = "it is final" if current.terminal else f"{current} does not lead to {to}"
        raise InvalidTransition(
            f"trade {trade_id} cannot go from {current} to {to}: {why}",
            trade_id=trade_id,
            from_status=str(current),
            to_status=str(to),
        )


@dataclass(frozen=True, slots=True)
class FailureReason:
    """Why a trade ended without a fill, in words a user understands; `code` is UPPER_SNAKE."""

    code: str
    message: str

    @classmethod
    def slippage_exceeded(cls, detail: str | None = None) -> FailureReason:
        return cls(
            "SLIPPAGE_EXCEEDED",
            _with("the price moved beyond your slippage tolerance; nothing was swapped", detail),
        )

    @classmethod
    def insufficient_funds(cls, detail: str | None = None) -> FailureReason:
        return cls(
            "INSUFFICIENT_FUNDS",
            _with("the wallet does not hold enough to pay for this trade and its fees", detail),
        )

    @classmethod
    def expired(cls, detail: str | None = None) -> FailureReason:
        return cls(
            "EXPIRED",
            _with("the transaction was not confirmed before its blockhash expired", detail),
        )

    @classmethod
    def rejected_by_check(cls, detail: str | None = None) -> FailureReason:
        return cls(
            "REJECTED_BY_CHECK",
            _with("the swap transaction failed our safety check and was never signed", detail),
        )


def _with(message: str, detail: str | None) -> str:
    return message if not detail else f"{message} ({detail})"
