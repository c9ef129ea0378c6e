"""Expiry when nothing is included, and settling open trades after a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

from solders.transaction import VersionedTransaction

from solbot.domain import QuoteRequest
from solbot.execution import FailureReason, TradeRecord, TradeState
from tests.integration.execution.conftest import SOL, USDC, World


async def _pending(world: World, amount: int = 20_000_000) -> TradeRecord:
    request = QuoteRequest(input_mint=SOL, output_mint=USDC, amount=amount, slippage_bps=50)
    quote = await world.jupiter.quote(request, 5.0)
    trade = TradeRecord(trade_id=uuid.uuid4().hex, wallet=world.wallet, quote=quote)
    world.store.put(trade)
    return trade


async def _signed(world: World, trade: TradeRecord) -> TradeRecord:
    """What a previous run had stored when it crashed right after signing."""
    swap = await world.jupiter.build_swap(
        trade.quote, world.wallet, priority_fee_lamports=10_000, timeout_s=5.0
    )
    signed = world.signer.sign_transaction(VersionedTransaction.from_bytes(swap.transaction))
    assert swap.last_valid_block_height is not None
    record = dataclasses.replace(
        trade,
        state=TradeState.SIGNED,
        transaction=bytes(signed),
        signature=str(signed.signatures[0]),
        last_valid_block_height=swap.last_valid_block_height,
    )
    world.store.put(record)
    return record


async def _wait_past(world: World, block_height: int) -> None:
    async with asyncio.timeout(20):
        while await world.rpc.get_block_height() <= block_height:
            await asyncio.sleep(0.1)


async def test_a_trade_never_included_expires_after_its_last_valid_block_height(
    fast_world: World,
) -> None:
    """chain-halted-inclusion: every send dropped, PubSub silent; the trade ends expired once the
    block height passes lastValidBlockHeight, and nothing left the wallet."""
    world = fast_world
    trade = await _pending(world)
    await world.set_faults({"scenario": "chain-halted-inclusion"})
    sol_before = await world.token_balance(SOL)
    usdc_before = await world.token_balance(USDC)

    done = await world.executor.execute(trade, world.signer)

    assert done.state is TradeState.EXPIRED
    assert done.failure is FailureReason.EXPIRED
    assert done.signature is not None and done.last_valid_block_height is not None
    assert await world.rpc.get_block_height() > done.last_valid_block_height
    (status,) = await world.rpc.get_signature_statuses(
        [done.signature], search_transaction_history=True
    )
    assert status is None
    assert await world.token_balance(SOL) == sol_before
    assert await world.token_balance(USDC) == usdc_before
    assert len(world.signer.signed) == 1  # never a second transaction for the trade


async def test_restart_resumes_rebroadcasting_a_signed_trade_still_valid(world: World) -> None:
    """A trade signed but never sent before a crash is sent by the restarted executor and lands."""
    record = await _signed(world, await _pending(world))
    usdc_before = await world.token_balance(USDC)

    (done,) = await world.executor.resume_open_trades()

    assert done.trade_id == record.trade_id
    assert done.state is TradeState.CONFIRMED
    assert done.signature == record.signature
    assert done.fill is not None
    assert await world.token_balance(USDC) - usdc_before == done.fill.out_amount
    assert world.store.history[record.trade_id][-2:] == [TradeState.SENT, TradeState.CONFIRMED]


async def test_restart_records_the_fill_of_a_trade_that_landed_meanwhile(world: World) -> None:
    """A sent trade that landed while the executor was down is recorded with its fill."""
    record = await _signed(world, await _pending(world))
    record = dataclasses.replace(record, state=TradeState.SENT)
    world.store.put(record)
    assert record.transaction is not None and record.signature is not None
    await world.rpc.send_transaction(record.transaction)
    async with asyncio.timeout(10):
        while True:
            (status,) = await world.rpc.get_signature_statuses([record.signature])
            if status is not None and status.is_confirmed:
                break
            await asyncio.sleep(0.05)

    (done,) = await world.executor.resume_open_trades()

    assert done.state is TradeState.CONFIRMED
    assert done.fill is not None and done.fill.in_amount == record.quote.in_amount
    assert done.fill.slot == status.slot


async def test_restart_expires_a_sent_trade_whose_blockhash_has_passed(fast_world: World) -> None:
    """A sent trade that never landed and whose blockhash expired is marked expired."""
    world = fast_world
    record = await _signed(world, await _pending(world))
    record = dataclasses.replace(record, state=TradeState.SENT)
    world.store.put(record)
    assert record.last_valid_block_height is not None
    await _wait_past(world, record.last_valid_block_height)

    (done,) = await world.executor.resume_open_trades()

    assert done.state is TradeState.EXPIRED
    assert done.failure is FailureReason.EXPIRED


async def test_restart_expires_a_built_trade_without_signing_or_sending(world: World) -> None:
    """A trade stored as built was never signed: it ends expired and nothing is signed now."""
    trade = await _pending(world)
    built = dataclasses.replace(trade, state=TradeState.BUILT, transaction=b"unsigned")
    world.store.put(built)

    (done,) = await world.executor.resume_open_trades()

    assert done.state is TradeState.EXPIRED
    assert world.signer.signed == []
    assert await world.store.open_trades() == []
