"""The fill of a landed transaction, from the chain's own record (wire-formats §9.6): token
amounts from `meta.pre/postTokenBalances`, SOL from `pre/postBalances` net of the fee and of rent
parked in the user's token accounts; fees split into base (5000 per signature) and priority."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from solbot.errors import UpstreamError, UpstreamTimeout
from solbot.execution._budget import LAMPORTS_PER_SIGNATURE
from solbot.execution._check import NATIVE_MINT
from solbot.execution._model import Fill
from solbot.rpc import ConfirmedTransaction, RpcClient

__all__ = ["FillReader", "fill_from_transaction"]


def fill_from_transaction(
    transaction: ConfirmedTransaction,
    *,
    signature: str,
    user: str,
    input_mint: str,
    output_mint: str,
) -> Fill:
    """What `user` gave and got in `transaction` (pure)."""
    keys = transaction.account_keys
    if user not in keys:
        raise ValueError("the user is not an account of this transaction")
    user_index = keys.index(user)

    def lamports_delta(index: int) -> int:
        return transaction.post_balances[index] - transaction.pre_balances[index]

    pre = {b.account_index: b for b in transaction.pre_token_balances if b.owner == user}
    post = {b.account_index: b for b in transaction.post_token_balances if b.owner == user}
    token_deltas: dict[str, int] = {}
    token_account_lamports = 0
    wrapped_delta = 0
    for index in sorted(set(pre) | set(post)):
        mint = (post.get(index) or pre[index]).mint
        before = pre[index].amount if index in pre else 0
        after = post[index].amount if index in post else 0
        token_deltas[mint] = token_deltas.get(mint, 0) + after - before
        token_account_lamports += lamports_delta(index)
        if mint == NATIVE_MINT:
            wrapped_delta += after - before

    fee = transaction.fee
    # The user's SOL in the trade: wallet lamports plus what sits in its token accounts (wrapped
    # SOL, rent), with the fee added back.
    native_delta = lamports_delta(user_index) + token_account_lamports + fee
    rent = token_account_lamports - wrapped_delta

    def delta(mint: str) -> int:
        return native_delta if mint == NATIVE_MINT else token_deltas.get(mint, 0)

    base_fee = LAMPORTS_PER_SIGNATURE * transaction.num_required_signatures
    return Fill(
        signature=signature,
        slot=transaction.slot,
        input_mint=input_mint,
        output_mint=output_mint,
        in_amount=-delta(input_mint),
        out_amount=delta(output_mint),
        fee_lamports=fee,
        base_fee_lamports=base_fee,
        priority_fee_lamports=max(0, fee - base_fee),
        rent_lamports=rent,
        err=transaction.err,
    )


class FillReader:
    """Reads a landed transaction (retrying while the node does not show it yet) into a Fill."""

    def __init__(
        self,
        rpc: RpcClient,
        *,
        poll_interval_s: float = 0.2,
        rpc_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rpc = rpc
        self._poll_interval_s = poll_interval_s
        self._rpc_timeout_s = rpc_timeout_s
        self._clock = clock

    async def transaction(self, signature: str, *, timeout_s: float = 10.0) -> ConfirmedTransaction:
        """The landed transaction, or UpstreamTimeout when the node does not return it in time
        (a node may confirm a signature a moment before it serves the transaction)."""
        deadline = self._clock() + timeout_s
        while True:
            try:
                transaction = await self._rpc.get_transaction(
                    signature, timeout_s=self._rpc_timeout_s
                )
            except UpstreamError:
                transaction = None
            if transaction is not None:
                return transaction
            if self._clock() >= deadline:
                raise UpstreamTimeout(
                    f"getTransaction: {signature} not available within {timeout_s:.1f}s",
                    source="rpc",
                )
            await asyncio.sleep(self._poll_interval_s)

    async def read(
        self,
        signature: str,
        *,
        user: str,
        input_mint: str,
        output_mint: str,
        timeout_s: float = 10.0,
    ) -> Fill:
        """The fill of a landed transaction."""
        transaction = await self.transaction(signature, timeout_s=timeout_s)
        return fill_from_transaction(
            transaction,
            signature=signature,
            user=user,
            input_mint=input_mint,
            output_mint=output_mint,
        )
