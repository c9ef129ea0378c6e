"""Drives one trade from its quote to a fill: build, check, sign, send, land, read the fill.

pending -> built -> signed -> sent -> confirmed | failed | expired, each state written through
the `TradeStore` before the effect that follows it: the unsigned transaction is recorded before
the key touches it, the signature before the first byte is sent. A second, different transaction
is signed for a trade only when the first can no longer land (it landed and failed on slippage);
after an expiry the trade ends `expired` and the user decides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from solders.message import MessageHeader
from solders.transaction import VersionedTransaction

from solbot.domain import SwapBuilder, SwapTransaction, VenueQuote
from solbot.errors import UpstreamError
from solbot.execution._budget import can_rewrite, rewrite_compute_budget
from solbot.execution._check import (
    NATIVE_MINT,
    VENUE_PROGRAMS,
    CheckExpectations,
    TransactionCheck,
    Violation,
    user_associated_accounts,
)
from solbot.execution._fees import PriorityFeePolicy
from solbot.execution._fill import FillReader, fill_from_transaction
from solbot.execution._landing import (
    ConfirmationTracker,
    Expired,
    Landed,
    Lander,
    LandingResult,
    Undetermined,
)
from solbot.execution._model import (
    OPEN_STATES,
    FailureReason,
    Fill,
    Requoter,
    Signer,
    TradeRecord,
    TradeState,
    TradeStore,
)
from solbot.execution._reasons import reason_for_transaction_error, reason_for_venue_error
from solbot.ops import get_logger
from solbot.rpc import (
    AccountState,
    RpcClient,
    Simulation,
    decode_token_account,
)

__all__ = ["TradeExecutor"]

_log = get_logger("solbot.execution")
_security_log = get_logger("solbot.security")


@dataclass(frozen=True, slots=True)
class _Ready:
    transaction: VersionedTransaction
    last_valid_block_height: int


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: FailureReason
    detail: str


@dataclass(frozen=True, slots=True)
class _Retry:
    """The attempt landed and failed on slippage: it can never land again, a new one may."""

    record: TradeRecord
    detail: str


def _is_writable(header: MessageHeader, index: int, num_keys: int) -> bool:
    signed = header.num_required_signatures
    if index < signed:
        return index < signed - header.num_readonly_signed_accounts
    return index < num_keys - header.num_readonly_unsigned_accounts


class TradeExecutor:
    """`await executor.execute(trade, signer)`; on start, `await executor.resume_open_trades()`."""

    def __init__(
        self,
        *,
        rpc: RpcClient,
        store: TradeStore,
        builders: Mapping[str, SwapBuilder],
        lander: Lander,
        fill_reader: FillReader | None = None,
        requoter: Requoter | None = None,
        fee_policy: PriorityFeePolicy | None = None,
        check: TransactionCheck | None = None,
        venue_programs: Mapping[str, frozenset[str]] = VENUE_PROGRAMS,
        build_timeout_s: float = 5.0,
        rpc_timeout_s: float = 3.0,
        fill_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rpc = rpc
        self._store = store
        self._builders = dict(builders)
        self._lander = lander
        self._fills = fill_reader or FillReader(rpc, rpc_timeout_s=rpc_timeout_s)
        self._requoter = requoter
        self._fees = fee_policy or PriorityFeePolicy()
        self._check = check or TransactionCheck()
        self._venue_programs = venue_programs
        self._build_timeout_s = build_timeout_s
        self._rpc_timeout_s = rpc_timeout_s
        self._fill_timeout_s = fill_timeout_s
        self._clock = clock

    # ---- one trade ---------------------------------------------------------------------------

    async def execute(self, trade: TradeRecord, signer: Signer) -> TradeRecord:
        """Carry out a pending trade. Returns the trade as last stored: final, or `sent` when the
        landing could not be settled (resume_open_trades settles it later)."""
        if trade.state is not TradeState.PENDING:
            raise ValueError(f"trade {trade.trade_id} is {trade.state}, not pending")
        if signer.public_key != trade.wallet:
            raise ValueError("the signer is not the trade's wallet")
        record = trade
        quote = trade.quote
        while True:
            prepared = await self._prepare(record, quote)
            if isinstance(prepared, _Refused):
                if prepared.reason is FailureReason.SLIPPAGE_EXCEEDED and self._may_retry(record):
                    quote = await self._requote(record)
                    record = dataclasses.replace(record, attempt=record.attempt + 1)
                    continue
                return await self._fail(record, prepared.reason, prepared.detail)
            built = dataclasses.replace(
                record,
                state=TradeState.BUILT,
                quote=quote,
                transaction=bytes(prepared.transaction),
                signature=None,
                last_valid_block_height=prepared.last_valid_block_height,
            )
            await self._store.transition(built, expected=record.state)
            signed_tx = signer.sign_transaction(prepared.transaction)
            if bytes(signed_tx.message) != bytes(prepared.transaction.message) or not all(
                signed_tx.verify_with_results()
            ):
                return await self._fail(
                    built,
                    FailureReason.REJECTED_BY_CHECK,
                    "the wallet's signature did not complete the checked transaction",
                )
            signature = str(signed_tx.signatures[0])
            signed = dataclasses.replace(
                built, state=TradeState.SIGNED, transaction=bytes(signed_tx), signature=signature
            )
            await self._store.transition(signed, expected=TradeState.BUILT)
            sent = dataclasses.replace(signed, state=TradeState.SENT)
            await self._store.transition(sent, expected=TradeState.SIGNED)
            _log.info(
                "trade_sent", trade_id=trade.trade_id, signature=signature, attempt=sent.attempt
            )
            result = await self._lander.land(
                bytes(signed_tx), signature, prepared.last_valid_block_height
            )
            settled = await self._settle(sent, result, may_retry=self._may_retry(sent))
            if not isinstance(settled, _Retry):
                return settled
            record = dataclasses.replace(settled.record, attempt=settled.record.attempt + 1)
            quote = await self._requote(record)
            _log.info("trade_requoted", trade_id=trade.trade_id, detail=settled.detail)

    def _may_retry(self, record: TradeRecord) -> bool:
        return (
            self._requoter is not None
            and record.options.requote_on_slippage
            and record.attempt == 1
        )

    async def _requote(self, record: TradeRecord) -> VenueQuote:
        assert self._requoter is not None
        return await self._requoter.requote(
            record.quote, record.wallet, timeout_s=self._build_timeout_s
        )

    # ---- build and check ------------------------------------------------------------------------

    async def _prepare(self, record: TradeRecord, quote: VenueQuote) -> _Ready | _Refused:
        builder = self._builders.get(quote.source)
        if builder is None or not quote.executable:
            return _Refused(FailureReason.VENUE_REJECTED, f"{quote.source} cannot build trades")
        recent = await self._recent_fees([leg.pool for leg in quote.route_plan])
        venue_fee = self._fees.venue_fee_lamports(
            recent, max_fee_lamports=record.options.max_priority_fee_lamports
        )
        try:
            swap = await builder.build_swap(
                quote,
                record.wallet,
                priority_fee_lamports=venue_fee,
                timeout_s=self._build_timeout_s,
            )
        except UpstreamError as exc:
            reason, detail = reason_for_venue_error(exc)
            return _Refused(reason, detail)
        try:
            transaction = VersionedTransaction.from_bytes(swap.transaction)
        except ValueError:
            return self._refuse_by_check(
                record, quote, [Violation("unreadable", "the transaction cannot be decoded")]
            )
        try:
            watched, pre = await self._watched_accounts(record.wallet, quote, transaction)
        except UpstreamError as exc:
            return _Refused(FailureReason.CHAIN_UNAVAILABLE, f"account states: {exc.message}")
        simulation = await self._simulate(transaction, watched)
        if isinstance(simulation, _Refused):
            return simulation
        if can_rewrite(transaction) and simulation.units_consumed:
            # Only the user signs it: set the CU limit from the simulation and our own price.
            limit = self._fees.unit_limit(simulation.units_consumed)
            price = self._fees.unit_price(
                recent,
                unit_limit=limit,
                max_fee_lamports=record.options.max_priority_fee_lamports,
            )
            transaction = rewrite_compute_budget(
                transaction, unit_limit=limit, unit_price_micro_lamports=price
            )
            simulation = await self._simulate(transaction, watched)
            if isinstance(simulation, _Refused):
                return simulation
        expectations = CheckExpectations(
            user=record.wallet,
            input_mint=quote.input_mint,
            output_mint=quote.output_mint,
            max_in_amount=quote.max_in_amount,
            min_out_amount=quote.min_out_amount,
            max_priority_fee_lamports=record.options.max_priority_fee_lamports,
            venue_programs=self._venue_programs.get(quote.source, frozenset()),
        )
        result = self._check.verify(
            transaction, expectations, watched=watched, pre=pre, simulation=simulation
        )
        if not result.ok:
            return self._refuse_by_check(record, quote, list(result.violations))
        return _Ready(transaction, await self._last_valid_block_height(swap))

    def _refuse_by_check(
        self, record: TradeRecord, quote: VenueQuote, violations: Sequence[Violation]
    ) -> _Refused:
        _security_log.warning(
            "transaction_rejected_by_check",
            trade_id=record.trade_id,
            wallet=record.wallet,
            venue=quote.source,
            violations=[f"{v.rule}: {v.detail}" for v in violations],
        )
        rules = ", ".join(sorted({v.rule for v in violations}))
        return _Refused(FailureReason.REJECTED_BY_CHECK, f"refused before signing: {rules}")

    async def _recent_fees(self, accounts: Sequence[str]) -> list[int]:
        try:
            fees = await self._rpc.get_recent_prioritization_fees(
                accounts, timeout_s=self._rpc_timeout_s
            )
            if not fees and accounts:
                fees = await self._rpc.get_recent_prioritization_fees(
                    [], timeout_s=self._rpc_timeout_s
                )
        except UpstreamError:
            return []  # the policy's floor applies
        return [fee.micro_lamports for fee in fees]

    async def _watched_accounts(
        self, wallet: str, quote: VenueQuote, transaction: VersionedTransaction
    ) -> tuple[list[str], list[AccountState | None]]:
        """The user and every token account of the user's the transaction may touch, with their
        states now. Limited to as many addresses as the transaction has keys (a node's limit)."""
        message = transaction.message
        keys = [str(k) for k in message.account_keys]
        derived = user_associated_accounts(
            wallet, {quote.input_mint, quote.output_mint, NATIVE_MINT}
        )
        writable = [k for i, k in enumerate(keys) if _is_writable(message.header, i, len(keys))]
        writable = [k for k in writable if k != wallet]
        candidates = [wallet, *dict.fromkeys([*writable, *sorted(derived)])][:100]
        states = await self._rpc.get_multiple_accounts(candidates, timeout_s=self._rpc_timeout_s)
        watched: list[str] = [wallet]
        pre: list[AccountState | None] = [states[0]]
        in_keys: list[tuple[str, AccountState | None]] = []
        elsewhere: list[tuple[str, AccountState | None]] = []
        for address, state in zip(candidates[1:], states[1:], strict=True):
            token = decode_token_account(state) if state is not None else None
            owned = token is not None and token.owner == wallet
            if owned or address in derived:
                (in_keys if address in keys else elsewhere).append((address, state))
        for address, state in [*in_keys, *elsewhere][: max(0, len(keys) - 1)]:
            watched.append(address)
            pre.append(state)
        return watched, pre

    async def _simulate(
        self, transaction: VersionedTransaction, watched: Sequence[str]
    ) -> Simulation | _Refused:
        try:
            simulation = await self._rpc.simulate_transaction(
                bytes(transaction), account_addresses=watched, timeout_s=self._rpc_timeout_s
            )
        except UpstreamError as exc:
            return _Refused(FailureReason.CHAIN_UNAVAILABLE, f"simulation failed: {exc.message}")
        if simulation.err is not None:
            reason, detail = reason_for_transaction_error(simulation.err, simulation.logs)
            return _Refused(reason, f"simulation: {detail}")
        return simulation

    async def _last_valid_block_height(self, swap: SwapTransaction) -> int:
        if swap.last_valid_block_height is not None:
            return swap.last_valid_block_height
        # The venue did not say: the latest blockhash's limit bounds the venue's (no newer)
        # blockhash from above, so the transaction is never deemed dead too early.
        latest = await self._rpc.get_latest_blockhash(timeout_s=self._rpc_timeout_s)
        return latest.last_valid_block_height

    # ---- settling --------------------------------------------------------------------------------

    async def _settle(
        self, sent: TradeRecord, result: LandingResult, *, may_retry: bool
    ) -> TradeRecord | _Retry:
        if isinstance(result, Undetermined):
            _log.warning("trade_undetermined", trade_id=sent.trade_id, detail=result.detail)
            return sent
        if isinstance(result, Expired):
            return await self._finish(
                sent,
                TradeState.EXPIRED,
                reason=FailureReason.EXPIRED,
                detail=f"block height {result.block_height} passed "
                f"{sent.last_valid_block_height} without inclusion",
            )
        assert sent.signature is not None
        try:
            landed = await self._fills.transaction(sent.signature, timeout_s=self._fill_timeout_s)
        except UpstreamError as exc:
            _log.warning("fill_unavailable", trade_id=sent.trade_id, error=exc.message)
            return sent  # confirmed but unreadable for now: stays open, resumed later
        fill = fill_from_transaction(
            landed,
            signature=sent.signature,
            user=sent.wallet,
            input_mint=sent.quote.input_mint,
            output_mint=sent.quote.output_mint,
        )
        if fill.succeeded:
            return await self._finish(sent, TradeState.CONFIRMED, fill=fill)
        reason, detail = reason_for_transaction_error(fill.err, landed.log_messages)
        if reason is FailureReason.SLIPPAGE_EXCEEDED and may_retry:
            return _Retry(
                dataclasses.replace(
                    sent,
                    failed_attempt_fees_lamports=sent.failed_attempt_fees_lamports
                    + fill.fee_lamports,
                ),
                detail,
            )
        return await self._finish(sent, TradeState.FAILED, reason=reason, detail=detail, fill=fill)

    async def _fail(self, record: TradeRecord, reason: FailureReason, detail: str) -> TradeRecord:
        return await self._finish(record, TradeState.FAILED, reason=reason, detail=detail)

    async def _finish(
        self,
        record: TradeRecord,
        state: TradeState,
        *,
        reason: FailureReason | None = None,
        detail: str | None = None,
        fill: Fill | None = None,
    ) -> TradeRecord:
        final = dataclasses.replace(
            record,
            state=state,
            failure=reason,
            failure_detail=detail,
            fill=fill if fill is not None else record.fill,
        )
        await self._store.transition(final, expected=record.state)
        _log.info(
            "trade_settled",
            trade_id=record.trade_id,
            state=str(state),
            reason=None if reason is None else str(reason),
            detail=detail,
        )
        return final

    # ---- restart ---------------------------------------------------------------------------------

    async def resume_open_trades(self) -> list[TradeRecord]:
        """Settle every trade a previous run left open, so that ledger and chain agree: resume
        rebroadcasting what can still land, record what landed, expire what cannot land."""
        trades = [t for t in await self._store.open_trades() if t.state in OPEN_STATES]
        return list(await asyncio.gather(*(self.resume(t) for t in trades)))

    async def resume(self, record: TradeRecord) -> TradeRecord:
        """Settle one open trade (built, signed or sent) as `resume_open_trades` does: a caller
        that schedules trades itself (one per wallet at a time) resumes them one by one."""
        if record.state not in OPEN_STATES:
            raise ValueError(f"trade {record.trade_id} is {record.state}, not open")
        if (
            record.state is TradeState.BUILT
            or record.signature is None
            or record.transaction is None
            or record.last_valid_block_height is None
        ):
            # The signature is stored before any send: without one nothing was sent.
            return await self._finish(
                record,
                TradeState.EXPIRED,
                reason=FailureReason.EXPIRED,
                detail="interrupted before sending; nothing was sent",
            )
        signature = record.signature
        signed_bytes = record.transaction
        last_valid = record.last_valid_block_height
        try:
            status = await self._lander.status(signature)
            result: LandingResult
            if status is not None and status.is_confirmed:
                result = Landed(status.slot, status.err)
            else:
                height = await self._lander.block_height()
                if record.state is TradeState.SIGNED:
                    record = dataclasses.replace(record, state=TradeState.SENT)
                    await self._store.transition(record, expected=TradeState.SIGNED)
                if height <= last_valid:
                    _log.info("trade_resumed", trade_id=record.trade_id, signature=signature)
                    result = await self._lander.land(signed_bytes, signature, last_valid)
                else:
                    tracker = ConfirmationTracker(last_valid, clock=self._clock)
                    tracker.on_block_height(height)
                    result = await self._lander.final_check(signature, tracker)
        except UpstreamError as exc:
            _log.warning("resume_failed", trade_id=record.trade_id, error=exc.message)
            return record
        if record.state is TradeState.SIGNED:
            record = dataclasses.replace(record, state=TradeState.SENT)
            await self._store.transition(record, expected=TradeState.SIGNED)
        settled = await self._settle(record, result, may_retry=False)
        assert not isinstance(settled, _Retry)
        return settled
