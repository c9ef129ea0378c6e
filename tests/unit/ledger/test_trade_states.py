"""The trade state machine and the ledger's pure pieces (u64 amounts, request fingerprints)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from solbot.errors import InvalidRequest
from solbot.ledger import (
    U64_MAX,
    FailureReason,
    InvalidTransition,
    TradeRequest,
    TradeStatus,
    can_transition,
    check_transition,
)
from solbot.ledger._types import U64

S = TradeStatus
W, A, B = "W" * 44, "A" * 32, "B" * 43
HAPPY_PATH = [S.PENDING, S.BUILT, S.SIGNED, S.SENT, S.CONFIRMED]


def test_happy_path_is_allowed_step_by_step() -> None:
    """pending -> built -> signed -> sent -> confirmed, one step at a time."""
    for current, following in itertools.pairwise(HAPPY_PATH):
        assert can_transition(current, following)


@pytest.mark.parametrize("status", [S.PENDING, S.BUILT, S.SIGNED, S.SENT])
def test_every_open_state_can_fail_or_expire(status: TradeStatus) -> None:
    """Any trade not yet final can end as failed or expired."""
    assert can_transition(status, S.FAILED)
    assert can_transition(status, S.EXPIRED)


@pytest.mark.parametrize("terminal", [S.CONFIRMED, S.FAILED, S.EXPIRED])
def test_a_terminal_state_never_changes(terminal: TradeStatus) -> None:
    """Confirmed, failed and expired are final: no transition leaves them, not even to self."""
    assert terminal.terminal
    for target in TradeStatus:
        assert not can_transition(terminal, target)
        with pytest.raises(InvalidTransition, match="final"):
            check_transition("t1", terminal, target)


def test_steps_cannot_be_skipped_or_reversed() -> None:
    """No state jumps ahead past signing, and none goes back (but sent -> built, below)."""
    assert not can_transition(S.PENDING, S.SIGNED)
    assert not can_transition(S.PENDING, S.SENT)
    assert not can_transition(S.BUILT, S.SENT)
    assert not can_transition(S.SENT, S.SIGNED)
    assert not can_transition(S.BUILT, S.PENDING)
    assert not can_transition(S.SENT, S.SENT)


def test_a_sent_trade_may_be_rebuilt_for_its_one_requoted_attempt() -> None:
    """sent -> built is the only way back: a landed slippage failure may be re-quoted once."""
    assert can_transition(S.SENT, S.BUILT)
    assert not can_transition(S.SIGNED, S.BUILT)
    assert not can_transition(S.SENT, S.PENDING)


def test_signed_may_be_confirmed_directly_for_recovery() -> None:
    """A crash between send and writing `sent` leaves a signed trade the chain confirmed."""
    assert can_transition(S.SIGNED, S.CONFIRMED)


def test_invalid_transition_names_both_states() -> None:
    """The error says which trade, from where and to where."""
    with pytest.raises(InvalidTransition) as caught:
        check_transition("t9", S.PENDING, S.SENT)
    assert "t9" in caught.value.message
    assert caught.value.context == {"trade_id": "t9", "from_status": "pending", "to_status": "sent"}


def test_failure_reasons_speak_to_the_user() -> None:
    """Each common failure has a stable code and a sentence, with optional detail."""
    assert FailureReason.slippage_exceeded().code == "SLIPPAGE_EXCEEDED"
    assert FailureReason.insufficient_funds().code == "INSUFFICIENT_FUNDS"
    assert FailureReason.expired().code == "EXPIRED"
    rejected = FailureReason.rejected_by_check("unknown program")
    assert rejected.code == "REJECTED_BY_CHECK"
    assert rejected.message.endswith("(unknown program)")


@pytest.mark.parametrize(
    "dialect",
    [postgresql.asyncpg.dialect(), sqlite.aiosqlite.dialect()],  # type: ignore[no-untyped-call]
    ids=["pg", "sqlite"],
)
def test_u64_binds_every_value_exactly(dialect: Dialect) -> None:
    """0, 2**63 and 2**64-1 bind without loss; results come back as the same int."""
    column = U64()
    for value in (0, 2**63, U64_MAX):
        bound = column.process_bind_param(value, dialect)
        assert column.process_result_value(bound, dialect) == value


@pytest.mark.parametrize("value", [-1, U64_MAX + 1, 1.5, True, "12"])
def test_u64_refuses_what_is_not_a_u64(value: object) -> None:
    """Negative, too large, fractional, boolean or text amounts never reach the database."""
    with pytest.raises(ValueError, match=r"0\.\.2\*\*64-1"):
        U64().process_bind_param(value, sqlite.aiosqlite.dialect())


def test_request_fingerprint_tells_requests_apart() -> None:
    """Equal requests share a fingerprint; any changed field changes it."""
    base = TradeRequest(W, A, B, 10, 50)
    assert base.fingerprint() == TradeRequest(W, A, B, 10, 50).fingerprint()
    variants = [
        TradeRequest(W, A, B, 11, 50),
        TradeRequest(W, A, B, 10, 51),
        TradeRequest(W, A, B, 10, 50, quote_id="q"),
        TradeRequest(W, A, B, 10, 50, priority_fee=1000),
        TradeRequest(W, A, B, 10, 50, max_priority_fee_lamports=5),
        TradeRequest(A, A, B, 10, 50),
    ]
    assert len({v.fingerprint() for v in variants} | {base.fingerprint()}) == len(variants) + 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": U64_MAX + 1}, "amount"),
        ({"slippage_bps": 10_001}, "slippageBps"),
        ({"priority_fee": -1}, "priorityFee"),
        ({"max_priority_fee_lamports": U64_MAX + 1}, "maxPriorityFeeLamports"),
        ({"quote_id": "q" * 129}, "quoteId"),
        ({"input_mint": "short"}, "inputMint"),
        ({"wallet": "W" * 45}, "wallet"),
    ],
)
def test_trade_request_refuses_bad_input_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    """A request that could not be stored exactly is the caller's error, naming the field."""
    fields: dict[str, object] = {
        "wallet": W,
        "input_mint": A,
        "output_mint": B,
        "amount": 10,
        "slippage_bps": 50,
    }
    fields.update(changes)
    with pytest.raises(InvalidRequest) as caught:
        TradeRequest(**fields)  # type: ignore[arg-type]
    assert caught.value.field == field
