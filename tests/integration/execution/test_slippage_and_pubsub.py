"""Re-quoting once after a slippage failure, and the PubSub client over a real socket."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid

from solbot.domain import QuoteRequest
from solbot.execution import FailureReason, TradeOptions, TradeRecord, TradeState
from solbot.rpc import PubSubClient
from tests.integration.execution.conftest import SOL, USDC, World


async def _stale_trade(world: World, *, requote: bool) -> TradeRecord:
    """A quote whose threshold the market no longer meets: the venue refuses it on slippage."""
    request = QuoteRequest(input_mint=SOL, output_mint=USDC, amount=30_000_000, slippage_bps=50)
    quote = await world.jupiter.quote(request, 5.0)
    raw = dict(quote.raw)
    raw["otherAmountThreshold"] = str(quote.out_amount * 2)
    trade = TradeRecord(
        trade_id=uuid.uuid4().hex,
        wallet=world.wallet,
        quote=dataclasses.replace(quote, raw=raw),
        options=TradeOptions(requote_on_slippage=requote),
    )
    world.store.put(trade)
    return trade


async def test_a_slippage_failure_is_requoted_and_retried_once(world: World) -> None:
    """The venue refuses the stale quote on slippage; one fresh quote is taken and it lands."""
    trade = await _stale_trade(world, requote=True)

    done = await world.executor.execute(trade, world.signer)

    assert done.state is TradeState.CONFIRMED, done.failure_detail
    assert world.requoter.calls == 1
    assert done.attempt == 2
    assert len(world.signer.signed) == 1  # the refused attempt was never signed


async def test_without_permission_a_slippage_failure_is_final(world: World) -> None:
    """When the user did not allow a re-quote, the trade fails with slippage exceeded."""
    trade = await _stale_trade(world, requote=False)

    done = await world.executor.execute(trade, world.signer)

    assert done.state is TradeState.FAILED
    assert done.failure is FailureReason.SLIPPAGE_EXCEEDED
    assert world.requoter.calls == 0


async def test_signature_notifications_arrive_over_the_socket(world: World) -> None:
    """A confirmed airdrop's signature notifies its subscriber with the slot and no error."""
    assert await world.pubsub.wait_connected(2.0)
    signature = await world.rpc.call("requestAirdrop", [world.wallet, 1_000])
    result = await world.pubsub.wait_signature(signature, timeout_s=5.0)
    # The airdrop may confirm before the subscription exists (the race of §9.5): then no
    # notification comes and the status answers instead. Either way it is visible.
    (status,) = await world.rpc.get_signature_statuses([signature])
    assert status is not None
    if result is not None:
        assert result.err is None and result.slot == status.slot


async def test_account_notifications_follow_balance_changes(world: World) -> None:
    """accountSubscribe reports the wallet's new lamports after an airdrop."""
    assert await world.pubsub.wait_connected(2.0)
    subscription = await world.pubsub.subscribe_account(world.wallet)
    await asyncio.sleep(0.2)  # let the subscription reach the server
    before = await world.rpc.get_balance(world.wallet)
    await world.rpc.call("requestAirdrop", [world.wallet, 7_777])
    try:
        async with asyncio.timeout(5):
            while True:
                notification = await subscription.next(5.0)
                assert notification is not None
                _slot, account = notification
                if account is not None and account.lamports == before + 7_777:
                    break
    finally:
        await subscription.close()


async def test_a_dead_pubsub_endpoint_yields_no_notification_within_the_timeout() -> None:
    """With nothing listening, waiting ends quietly (None) at its timeout: polling decides."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with PubSubClient(f"ws://127.0.0.1:{port}", connect_timeout_s=0.2) as pubsub:
        started = asyncio.get_running_loop().time()
        assert await pubsub.wait_signature("1" * 64, timeout_s=0.5) is None
        assert asyncio.get_running_loop().time() - started < 2.0
        assert not pubsub.connected
