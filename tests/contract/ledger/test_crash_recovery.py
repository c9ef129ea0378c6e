"""A process killed (SIGKILL) in the middle of trading leaves a ledger that agrees with itself."""

from __future__ import annotations

import asyncio
import signal
import sys

from solbot.ledger import Ledger, TradeStatus

# Trades as fast as it can, printing each finished trade's number, until it is killed.
_TRADER = r"""
import asyncio, itertools, os, sys
from solders.signature import Signature
from solbot.keystore import Keystore, MasterKey
from solbot.ledger import FailureReason, Ledger, TradeRequest, TradeStatus as S

async def main(url):
    async with Ledger.open(url) as ledger:
        user = await ledger.users.insert_user("crash", os.urandom(32).hex(), "sbt_x")
        sealed = Keystore(MasterKey.generate()).new_key()
        wallet = await ledger.wallets.insert_wallet(user.id, sealed)
        request = TradeRequest(wallet.pubkey, "A" * 32, "B" * 32, 2**64 - 1, 50)
        for i in itertools.count():
            trade, _ = await ledger.trades.create_trade_idempotent(user.id, f"k{i}", request)
            await ledger.trades.transition(trade.id, S.BUILT, quoted_out_amount=2**63)
            await ledger.trades.transition(
                trade.id, S.SIGNED, signature=str(Signature(os.urandom(64))),
                last_valid_block_height=i, signed_transaction=b"tx")
            await ledger.trades.transition(trade.id, S.SENT)
            if i % 2:
                await ledger.trades.transition(trade.id, S.CONFIRMED, actual_out_amount=2**63)
            print(i, flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_killed_trader_leaves_a_consistent_ledger(database_url: str) -> None:
    """Every trade's status matches its last event, signed ones keep their signatures, and the
    unfinished ones are found and can be finished by the next process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _TRADER, database_url, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            finished = 0
            while finished < 6:  # other lines are the child's own logs
                line = await process.stdout.readline()
                assert line, "the trader exited early"
                finished += line.strip().isdigit()
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async with Ledger.open(database_url) as ledger:
        user = await ledger.users.user_named("crash")
        assert user is not None
        trades = await ledger.trades.list_trades(user.id, limit=500)
        assert len(trades) >= 6
        for trade in trades:
            events = await ledger.trades.events(trade.id)
            assert events[-1].to_status is trade.status
            assert trade.request.amount == 2**64 - 1
            if trade.status in (TradeStatus.SIGNED, TradeStatus.SENT, TradeStatus.CONFIRMED):
                assert [s.signature for s in trade.signatures] == [trade.signature]
        open_ids = {t.id for t in await ledger.trades.open_trades()}
        assert open_ids == {t.id for t in trades if not t.terminal}
        for trade in await ledger.trades.open_trades():
            await ledger.trades.transition(trade.id, TradeStatus.EXPIRED)
        assert await ledger.trades.open_trades() == []
