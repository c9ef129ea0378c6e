"""A trade from quote to fill against the running simnet, healthy and under faults."""

from __future__ import annotations

import uuid

from solders.transaction import VersionedTransaction

from solbot.domain import QuoteRequest, VenueQuote
from solbot.execution import FailureReason, Landed, TradeRecord, TradeState
from tests.integration.execution.conftest import SOL, USDC, World


async def _quote(world: World, amount: int = 100_000_000) -> VenueQuote:
    request = QuoteRequest(input_mint=SOL, output_mint=USDC, amount=amount, slippage_bps=50)
    return await world.jupiter.quote(request, 5.0)


async def _pending(world: World, amount: int = 100_000_000) -> TradeRecord:
    trade = TradeRecord(
        trade_id=uuid.uuid4().hex, wallet=world.wallet, quote=await _quote(world, amount)
    )
    world.store.put(trade)
    return trade


async def test_a_swap_lands_and_its_fill_equals_the_chains_balance_changes(world: World) -> None:
    """The fill read from the landed transaction matches the wallet's balances to the base unit."""
    trade = await _pending(world)
    sol_before = await world.token_balance(SOL)
    usdc_before = await world.token_balance(USDC)

    done = await world.executor.execute(trade, world.signer)

    assert done.state is TradeState.CONFIRMED, done.failure_detail
    fill = done.fill
    assert fill is not None and fill.succeeded
    sol_after = await world.token_balance(SOL)
    usdc_after = await world.token_balance(USDC)
    assert usdc_after - usdc_before == fill.out_amount
    assert sol_before - sol_after == fill.in_amount + fill.fee_lamports + fill.rent_lamports
    assert fill.in_amount == trade.quote.in_amount
    assert fill.out_amount >= trade.quote.min_out_amount
    assert fill.fee_lamports == fill.base_fee_lamports + fill.priority_fee_lamports
    assert fill.base_fee_lamports == 5000 * 2  # the user and the venue's maker sign
    assert world.store.history[trade.trade_id] == [
        TradeState.PENDING,
        TradeState.BUILT,
        TradeState.SIGNED,
        TradeState.SENT,
        TradeState.CONFIRMED,
    ]


async def test_a_venue_transaction_paying_a_stranger_is_refused_before_signing(
    world: World,
) -> None:
    """Under malicious_tx the venue adds a transfer to a stranger: refused, never signed."""
    trade = await _pending(world)
    await world.set_faults({"scenario": "malicious_tx"})
    sol_before = await world.token_balance(SOL)

    done = await world.executor.execute(trade, world.signer)

    assert done.state is TradeState.FAILED
    assert done.failure is FailureReason.REJECTED_BY_CHECK
    assert done.failure_detail is not None and "transfer_to_stranger" in done.failure_detail
    assert done.signature is None
    assert world.signer.signed == []
    assert TradeState.SIGNED not in world.store.history[trade.trade_id]
    assert await world.token_balance(SOL) == sol_before


async def test_a_trade_lands_through_rebroadcast_when_the_rpc_drops_sends(world: World) -> None:
    """With 30% of sends silently dropped (rpc-dropping), rebroadcasting still lands it."""
    await world.set_faults({"scenario": "rpc-dropping"})
    for _ in range(3):
        trade = await _pending(world, 50_000_000)
        done = await world.executor.execute(trade, world.signer)
        assert done.state is TradeState.CONFIRMED, done.failure_detail
        assert done.fill is not None and done.fill.in_amount == trade.quote.in_amount


async def test_the_same_signed_bytes_are_rebroadcast_until_one_send_lands(world: World) -> None:
    """With 80% of sends dropped, the lander resends the same bytes until one is included."""
    trade = await _pending(world, 10_000_000)
    swap = await world.jupiter.build_swap(
        trade.quote, world.wallet, priority_fee_lamports=10_000, timeout_s=5.0
    )
    signed = world.signer.sign_transaction(VersionedTransaction.from_bytes(swap.transaction))
    assert swap.last_valid_block_height is not None
    await world.set_faults({"rpc": {"drop_rate": 0.8}})

    result = await world.lander.land(
        bytes(signed), str(signed.signatures[0]), swap.last_valid_block_height
    )

    assert isinstance(result, Landed)
    assert result.err is None
    assert result.sends >= 1
