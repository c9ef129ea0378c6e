"""Trades in the ledger, the same on SQLite and PostgreSQL: idempotent, stateful, recoverable."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass

import pytest
from solders.signature import Signature

from solbot.auth import User
from solbot.errors import InvalidRequest, NotFound
from solbot.keystore import Keystore, MasterKey, Wallet
from solbot.ledger import (
    U64_MAX,
    FailureReason,
    IdempotencyKeyReused,
    InvalidTransition,
    Ledger,
    Trade,
    TradeRequest,
    TradeStatus,
)

S = TradeStatus
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
KEYSTORE = Keystore(MasterKey.generate())


@dataclass(frozen=True)
class Owner:
    user: User
    wallet: Wallet

    def request(self, amount: int = 1_000_000_000, **changes: object) -> TradeRequest:
        fields: dict[str, object] = {
            "wallet": self.wallet.pubkey,
            "input_mint": SOL,
            "output_mint": USDC,
            "amount": amount,
            "slippage_bps": 50,
        }
        fields.update(changes)
        return TradeRequest(**fields)  # type: ignore[arg-type]


async def _owner(ledger: Ledger, name: str) -> Owner:
    """A user of this test only (the PostgreSQL database is shared by the session)."""
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    user = await ledger.users.insert_user(unique, os.urandom(32).hex(), "sbt_test")
    wallet = await ledger.wallets.insert_wallet(user.id, KEYSTORE.new_key())
    return Owner(user, wallet)


def _signature() -> str:
    return str(Signature(os.urandom(64)))


@pytest.fixture
async def alice(ledger: Ledger) -> Owner:
    return await _owner(ledger, "alice")


async def _signed(ledger: Ledger, owner: Owner, key: str) -> Trade:
    trade, _ = await ledger.trades.create_trade_idempotent(owner.user.id, key, owner.request())
    await ledger.trades.transition(trade.id, S.BUILT, source="jupiter", quoted_out_amount=150)
    return await ledger.trades.transition(
        trade.id,
        S.SIGNED,
        signature=_signature(),
        last_valid_block_height=1_000,
        signed_transaction=b"signed-bytes",
    )


async def test_concurrent_duplicates_make_exactly_one_trade(ledger: Ledger, alice: Owner) -> None:
    """20 concurrent creates with one Idempotency-Key yield one trade; one of them created it."""
    results = await asyncio.gather(
        *(
            ledger.trades.create_trade_idempotent(alice.user.id, "key-1", alice.request())
            for _ in range(20)
        )
    )
    assert len({trade.id for trade, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    trades = await ledger.trades.list_trades(alice.user.id)
    assert len(trades) == 1
    events = await ledger.trades.events(trades[0].id)
    assert [e.kind for e in events] == ["created"]


async def test_same_key_again_returns_the_same_trade(ledger: Ledger, alice: Owner) -> None:
    """A retried request gets back the trade as it is now, not a new one."""
    first, created = await ledger.trades.create_trade_idempotent(
        alice.user.id, "k", alice.request()
    )
    await ledger.trades.transition(first.id, S.BUILT)
    again, created_again = await ledger.trades.create_trade_idempotent(
        alice.user.id, "k", alice.request()
    )
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert again.status is S.BUILT


async def test_key_reused_with_another_request_is_refused(ledger: Ledger, alice: Owner) -> None:
    """An Idempotency-Key comes with one request only; a different body is an error, not a trade."""
    await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request(amount=1))
    with pytest.raises(IdempotencyKeyReused):
        await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request(amount=2))
    assert len(await ledger.trades.list_trades(alice.user.id)) == 1


async def test_keys_are_scoped_per_user(ledger: Ledger, alice: Owner) -> None:
    """Two users choosing the same key get two trades."""
    bob = await _owner(ledger, "bob")
    a, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "same", alice.request())
    b, created = await ledger.trades.create_trade_idempotent(bob.user.id, "same", bob.request())
    assert created and a.id != b.id


async def test_trading_from_another_users_wallet_is_not_found(ledger: Ledger, alice: Owner) -> None:
    """A trade names a wallet of the caller's, or nothing is written."""
    bob = await _owner(ledger, "bob")
    with pytest.raises(NotFound):
        await ledger.trades.create_trade_idempotent(bob.user.id, "k", alice.request())
    assert await ledger.trades.list_trades(bob.user.id) == []


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey", "clé"])
async def test_idempotency_keys_are_validated(ledger: Ledger, alice: Owner, key: str) -> None:
    """An Idempotency-Key is 1..255 printable ASCII characters."""
    with pytest.raises(InvalidRequest) as caught:
        await ledger.trades.create_trade_idempotent(alice.user.id, key, alice.request())
    assert caught.value.field == "Idempotency-Key"


async def test_amounts_above_2_pow_63_round_trip_exactly(ledger: Ledger, alice: Owner) -> None:
    """u64 amounts (up to 2**64-1) are stored and read back without a digit lost."""
    big = U64_MAX
    trade, _ = await ledger.trades.create_trade_idempotent(
        alice.user.id, "big", alice.request(amount=big, max_priority_fee_lamports=2**63 + 1)
    )
    await ledger.trades.transition(
        trade.id,
        S.BUILT,
        quoted_in_amount=big,
        quoted_out_amount=2**63,
        quoted_min_out_amount=2**63 - 1,
    )
    signed = await ledger.trades.transition(
        trade.id, S.SIGNED, signature=_signature(), last_valid_block_height=10
    )
    await ledger.trades.transition(trade.id, S.SENT, expected_from=S.SIGNED)
    await ledger.trades.transition(
        signed.id,
        S.CONFIRMED,
        actual_in_amount=big,
        actual_out_amount=big - 1,
        base_fee_lamports=5000,
        priority_fee_lamports=2**64 - 2,
        compute_unit_price_micro_lamports=big,
        slot=300_000_000,
    )
    read = await ledger.trades.get_trade(alice.user.id, trade.id)
    assert read.request.amount == big
    assert read.request.max_priority_fee_lamports == 2**63 + 1
    assert (read.quoted_in_amount, read.quoted_out_amount, read.quoted_min_out_amount) == (
        big,
        2**63,
        2**63 - 1,
    )
    assert (read.actual_in_amount, read.actual_out_amount) == (big, big - 1)
    assert read.priority_fee_lamports == 2**64 - 2
    assert read.compute_unit_price_micro_lamports == big


async def test_amount_outside_u64_is_refused_and_nothing_written(
    ledger: Ledger, alice: Owner
) -> None:
    """2**64 or a negative amount is refused before it reaches the database."""
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    with pytest.raises(ValueError, match=r"2\*\*64-1"):
        await ledger.trades.transition(trade.id, S.BUILT, quoted_out_amount=2**64)
    with pytest.raises(InvalidRequest, match=r"2\*\*64-1"):
        alice.request(amount=-1)
    assert (await ledger.trades.trade(trade.id)).status is S.PENDING
    assert len(await ledger.trades.events(trade.id)) == 1


async def test_full_life_is_recorded_with_an_event_per_transition(
    ledger: Ledger, alice: Owner
) -> None:
    """Each transition writes its fields and one audit event, in order, with timestamps."""
    trade = await _signed(ledger, alice, "k")
    sent = await ledger.trades.transition(trade.id, S.SENT)
    confirmed = await ledger.trades.transition(trade.id, S.CONFIRMED, actual_out_amount=149)
    assert sent.sent_at is not None
    assert confirmed.confirmed_at is not None and confirmed.confirmed_at >= sent.sent_at
    assert confirmed.source == "jupiter" and confirmed.actual_out_amount == 149
    events = await ledger.trades.events(trade.id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, S.PENDING),
        (S.PENDING, S.BUILT),
        (S.BUILT, S.SIGNED),
        (S.SIGNED, S.SENT),
        (S.SENT, S.CONFIRMED),
    ]
    assert events[-1].details == {"actual_out_amount": "149"}


async def test_usd_prices_at_fill_round_trip_exactly(ledger: Ledger, alice: Owner) -> None:
    """The legs' USD prices recorded at confirmation read back as the same decimals."""
    from decimal import Decimal

    trade = await _signed(ledger, alice, "prices")
    await ledger.trades.transition(trade.id, S.SENT)
    prices = {
        "So11111111111111111111111111111111111111112": Decimal("147.4821"),
        "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263": Decimal("0.0000203117"),
    }
    confirmed = await ledger.trades.transition(
        trade.id, S.CONFIRMED, actual_out_amount=1, fill_usd_prices=prices
    )
    assert confirmed.fill_usd_prices == prices
    assert (await ledger.trades.trade(trade.id)).fill_usd_prices == prices


async def test_transitions_enforce_the_state_machine(ledger: Ledger, alice: Owner) -> None:
    """A step the machine does not allow is refused and changes nothing, event log included."""
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    with pytest.raises(InvalidTransition):
        await ledger.trades.transition(trade.id, S.SENT)
    assert (await ledger.trades.trade(trade.id)).status is S.PENDING
    assert len(await ledger.trades.events(trade.id)) == 1


async def test_a_terminal_trade_never_changes(ledger: Ledger, alice: Owner) -> None:
    """Once failed, a trade stays failed with its reason, whatever is asked later."""
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    failed = await ledger.trades.transition(
        trade.id, S.FAILED, failure=FailureReason.insufficient_funds()
    )
    assert failed.failure == FailureReason.insufficient_funds()
    for target in (S.BUILT, S.CONFIRMED, S.EXPIRED, S.FAILED):
        with pytest.raises(InvalidTransition, match="final"):
            await ledger.trades.transition(
                trade.id, target, failure=None if target is not S.FAILED else failed.failure
            )
    assert (await ledger.trades.trade(trade.id)).status is S.FAILED


async def test_signing_is_recorded_before_sending(ledger: Ledger, alice: Owner) -> None:
    """A trade cannot enter `signed` without its signature and last valid block height."""
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    await ledger.trades.transition(trade.id, S.BUILT)
    with pytest.raises(InvalidTransition, match="signature"):
        await ledger.trades.transition(trade.id, S.SIGNED)
    with pytest.raises(ValueError, match="last_valid_block_height"):
        await ledger.trades.transition(trade.id, S.SIGNED, signature=_signature())
    assert (await ledger.trades.trade(trade.id)).status is S.BUILT


async def test_failure_reasons_belong_to_endings(ledger: Ledger, alice: Owner) -> None:
    """Failed needs a reason; expired gets one by default; other states take none."""
    a, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "a", alice.request())
    with pytest.raises(ValueError, match="FailureReason"):
        await ledger.trades.transition(a.id, S.FAILED)
    with pytest.raises(ValueError, match="only failed or expired"):
        await ledger.trades.transition(a.id, S.BUILT, failure=FailureReason.expired())
    expired = await ledger.trades.transition(a.id, S.EXPIRED)
    assert expired.failure is not None and expired.failure.code == "EXPIRED"


async def test_racing_transitions_from_one_state_let_one_win(ledger: Ledger, alice: Owner) -> None:
    """Two workers moving the same trade from `built` at once: one wins, the other is refused."""
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    await ledger.trades.transition(trade.id, S.BUILT)
    outcomes = await asyncio.gather(
        ledger.trades.transition(
            trade.id,
            S.SIGNED,
            expected_from=S.BUILT,
            signature=_signature(),
            last_valid_block_height=5,
        ),
        ledger.trades.transition(
            trade.id,
            S.FAILED,
            expected_from=S.BUILT,
            failure=FailureReason.rejected_by_check("test"),
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Trade) for o in outcomes) == 1
    assert sum(isinstance(o, InvalidTransition) for o in outcomes) == 1
    events = await ledger.trades.events(trade.id)
    assert len(events) == 3


async def test_every_signature_sent_is_kept(ledger: Ledger, alice: Owner) -> None:
    """Re-signed transactions add signatures (with their bytes); recording one twice is a no-op."""
    trade = await _signed(ledger, alice, "k")
    await ledger.trades.transition(trade.id, S.SENT)
    second = _signature()
    await ledger.trades.record_sent_signature(trade.id, second, 2_000, signed_transaction=b"v2")
    again = await ledger.trades.record_sent_signature(trade.id, second, 2_000)
    assert [s.signature for s in again.signatures] == [trade.signatures[0].signature, second]
    assert [s.transaction for s in again.signatures] == [b"signed-bytes", b"v2"]
    assert again.signature == second and again.last_valid_block_height == 2_000
    kinds = [e.kind for e in await ledger.trades.events(trade.id)]
    assert kinds.count("signature") == 1


async def test_signatures_only_once_signed(ledger: Ledger, alice: Owner) -> None:
    """A trade not yet signed, or already final, takes no extra signature."""
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    with pytest.raises(InvalidTransition):
        await ledger.trades.record_sent_signature(trade.id, _signature(), 1)


async def test_trades_are_visible_to_their_owner_only(ledger: Ledger, alice: Owner) -> None:
    """get_trade answers not-found for someone else's trade; lists hold only the caller's."""
    bob = await _owner(ledger, "bob")
    trade, _ = await ledger.trades.create_trade_idempotent(alice.user.id, "k", alice.request())
    with pytest.raises(NotFound):
        await ledger.trades.get_trade(bob.user.id, trade.id)
    with pytest.raises(NotFound):
        await ledger.trades.get_trade(alice.user.id, "no-such-trade")
    assert await ledger.trades.list_trades(bob.user.id) == []
    assert await ledger.trades.list_trades(bob.user.id, wallet=alice.wallet.pubkey) == []


async def test_list_trades_filters_by_wallet_newest_first(ledger: Ledger, alice: Owner) -> None:
    """Trades of one wallet, newest first, capped by `limit`."""
    other = await ledger.wallets.insert_wallet(alice.user.id, KEYSTORE.new_key())
    made = [
        (await ledger.trades.create_trade_idempotent(alice.user.id, f"k{i}", alice.request()))[0]
        for i in range(3)
    ]
    await ledger.trades.create_trade_idempotent(
        alice.user.id, "other", alice.request(wallet=other.pubkey)
    )
    listed = await ledger.trades.list_trades(alice.user.id, wallet=alice.wallet.pubkey)
    assert [t.id for t in listed] == [t.id for t in reversed(made)]
    assert len(await ledger.trades.list_trades(alice.user.id, limit=2)) == 2
    assert len(await ledger.trades.list_trades(alice.user.id)) == 4


async def test_open_trades_survive_a_restart(database_url: str) -> None:
    """After the process goes away, a new one finds every unfinished trade with its signatures."""
    async with Ledger.open(database_url) as before:
        alice = await _owner(before, "alice")
        pending, _ = await before.trades.create_trade_idempotent(
            alice.user.id, "p", alice.request()
        )
        signed = await _signed(before, alice, "s")
        sent = await _signed(before, alice, "t")
        await before.trades.transition(sent.id, S.SENT)
        done = await _signed(before, alice, "d")
        await before.trades.transition(done.id, S.CONFIRMED)
    async with Ledger.open(database_url) as after:
        open_trades = await after.trades.open_trades()
        assert [t.id for t in open_trades] == [pending.id, signed.id, sent.id]
        assert [t.status for t in open_trades] == [S.PENDING, S.SIGNED, S.SENT]
        assert open_trades[1].signatures == signed.signatures
        assert open_trades[1].signatures[0].transaction == b"signed-bytes"
        await after.trades.transition(signed.id, S.CONFIRMED)
        await after.trades.transition(sent.id, S.EXPIRED)
        await after.trades.transition(pending.id, S.FAILED, failure=FailureReason.expired())
        assert await after.trades.open_trades() == []
