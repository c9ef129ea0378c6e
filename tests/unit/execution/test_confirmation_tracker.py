"""The landing decisions: when to resend, when it landed, when it can no longer land."""

from __future__ import annotations

from solbot.execution import ConfirmationTracker, Expired, Landed
from solbot.resilience import ManualClock
from solbot.rpc import SignatureResult, SignatureStatus

LAST_VALID = 1_150


def tracker(clock: ManualClock) -> ConfirmationTracker:
    return ConfirmationTracker(LAST_VALID, clock=clock, rebroadcast_interval_s=2.0)


def status(level: str, err: object = None, slot: int = 77) -> SignatureStatus:
    return SignatureStatus(slot=slot, confirmations=1, err=err, confirmation_status=level)


def test_the_same_bytes_are_resent_every_interval_until_settled() -> None:
    """First send at once, then one every 2 s, none after a confirmation."""
    clock = ManualClock()
    t = tracker(clock)
    assert t.rebroadcast_due()
    t.on_sent()
    assert not t.rebroadcast_due()
    clock.advance(1.9)
    assert not t.rebroadcast_due()
    clock.advance(0.1)
    assert t.rebroadcast_due()
    t.on_sent()
    t.on_status(status("confirmed"))
    clock.advance(5)
    assert not t.rebroadcast_due()
    assert t.sends == 2


def test_a_confirmed_status_lands_and_a_processed_one_does_not() -> None:
    """Only `confirmed` or `finalized` settles; `processed` may still be on a dropped fork."""
    t = tracker(ManualClock())
    t.on_status(None)
    t.on_status(status("processed"))
    assert not t.settled
    t.on_status(status("finalized", slot=80))
    assert t.outcome == Landed(80, None)


def test_a_confirmed_but_failed_transaction_is_landed_with_its_error() -> None:
    """Landing carries the transaction's err: confirmed-but-failed is not a success."""
    t = tracker(ManualClock())
    err = {"InstructionError": [3, {"Custom": 6001}]}
    t.on_status(status("confirmed", err=err))
    assert t.outcome == Landed(77, err)


def test_the_first_final_event_wins() -> None:
    """A PubSub notification settles; a later poll does not overwrite it."""
    t = tracker(ManualClock())
    t.on_notification(SignatureResult(slot=70, err=None))
    t.on_status(status("confirmed", slot=71))
    assert t.outcome == Landed(70, None)


def test_expiry_needs_the_block_height_past_last_valid() -> None:
    """At lastValidBlockHeight the transaction may still land; one block later it cannot."""
    t = tracker(ManualClock())
    t.on_block_height(LAST_VALID)
    open_at_last_valid = not t.settled
    t.on_block_height(LAST_VALID + 1)
    assert open_at_last_valid
    assert t.settled and t.outcome is None and t.expired_at == LAST_VALID + 1


def test_after_expiry_the_final_check_decides() -> None:
    """Unknown signature: expired. Confirmed late: landed. Only processed: check again."""
    t = tracker(ManualClock())
    t.on_block_height(LAST_VALID + 3)
    assert t.final(status("processed")) is None
    assert t.final(None) == Expired(LAST_VALID + 3)
    late = tracker(ManualClock())
    late.on_block_height(LAST_VALID + 3)
    assert late.final(status("confirmed", slot=90)) == Landed(90, None)
