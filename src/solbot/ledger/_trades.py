"""Trades in the ledger: idempotent creation, state transitions with their audit trail, recovery.

How the executor is meant to use it, so that a process killed at any point resumes safely (each
write below happens before the external effect that follows it):

1. `create_trade_idempotent` -> pending. The (user, Idempotency-Key) unique constraint, with an
   insert that does nothing on conflict, makes concurrent duplicates return the one trade.
2. `transition(id, BUILT, source=..., quoted_*=..., ...)` once the swap transaction is built.
3. `transition(id, SIGNED, signature=..., last_valid_block_height=..., signed_transaction=...)`
   BEFORE the transaction is sent: from here on the chain may hold it.
4. `transition(id, SENT)` after the first send; a rebroadcast of the same bytes writes nothing.
   A re-signed transaction (fresh blockhash) goes through `record_sent_signature` before it is
   sent, so every signature that can land is in `Trade.signatures`.
5. `transition(id, CONFIRMED, actual_in_amount=..., actual_out_amount=..., base_fee_lamports=...,
   priority_fee_lamports=..., slot=...)`, or FAILED with a FailureReason, or EXPIRED.

On restart, `open_trades()` lists what is not final. A pending or built trade has never been
signed, so nothing of it can be on the chain. A signed or sent one is settled by asking the chain
about each of its signatures: one confirmed -> CONFIRMED; the block height past every
`last_valid_block_height` with none found -> EXPIRED; otherwise rebroadcast the stored bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from solbot.errors import InvalidRequest, NotFound
from solbot.ledger._clock import WallClock, utc_now
from solbot.ledger._database import Database
from solbot.ledger._models import TradeEventRow, TradeRow, TradeSignatureRow, WalletRow
from solbot.ledger._records import SentSignature, Trade, TradeEvent, TradeRequest
from solbot.ledger._states import FailureReason, InvalidTransition, TradeStatus, check_transition
from solbot.ledger._types import U64_MAX

__all__ = ["IdempotencyKeyReused", "TradeRepository"]

# What a transition may set besides the status; the request itself never changes.
_UPDATABLE = frozenset(
    {
        "source",
        "quote_id",
        "signature",
        "last_valid_block_height",
        "quoted_in_amount",
        "quoted_out_amount",
        "quoted_min_out_amount",
        "actual_in_amount",
        "actual_out_amount",
        "base_fee_lamports",
        "priority_fee_lamports",
        "compute_unit_limit",
        "compute_unit_price_micro_lamports",
        "slot",
        "rent_lamports",
        "failed_attempt_fees_lamports",
        "attempt",
        "fill_usd_prices",
        "sent_at",
        "confirmed_at",
    }
)
_U64_FIELDS = frozenset(
    {
        "quoted_in_amount",
        "quoted_out_amount",
        "quoted_min_out_amount",
        "actual_in_amount",
        "actual_out_amount",
        "base_fee_lamports",
        "priority_fee_lamports",
        "compute_unit_price_micro_lamports",
        "failed_attempt_fees_lamports",
    }
)
_OPEN = tuple(str(status) for status in TradeStatus if not status.terminal)
_MAX_KEY = 255
_MAX_LIST = 500


class IdempotencyKeyReused(InvalidRequest):
    """The Idempotency-Key was used before with a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= _MAX_KEY or not key.isprintable() or not key.isascii():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {_MAX_KEY} printable ASCII characters",
            code="INVALID_IDEMPOTENCY_KEY",
            field="Idempotency-Key",
        )


def _check_u64(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be an integer within 0..2**64-1, not {value!r}")


def _trade_not_found(trade_id: str) -> NotFound:
    return NotFound(f"no trade {trade_id} among yours", code="TRADE_NOT_FOUND", field="tradeId")


def _request(row: TradeRow) -> TradeRequest:
    fee = row.requested_priority_fee
    return TradeRequest(
        wallet=row.wallet,
        input_mint=row.input_mint,
        output_mint=row.output_mint,
        amount=row.amount,
        slippage_bps=row.slippage_bps,
        quote_id=row.requested_quote_id,
        priority_fee="auto" if fee == "auto" else int(fee),
        max_priority_fee_lamports=row.max_priority_fee_lamports,
    )


def _trade(row: TradeRow) -> Trade:
    failure = (
        None
        if row.failure_code is None
        else FailureReason(row.failure_code, row.failure_message or "")
    )
    return Trade(
        id=row.id,
        user_id=row.user_id,
        idempotency_key=row.idempotency_key,
        request=_request(row),
        status=TradeStatus(row.status),
        failure=failure,
        source=row.source,
        quote_id=row.quote_id,
        signature=row.signature,
        last_valid_block_height=row.last_valid_block_height,
        quoted_in_amount=row.quoted_in_amount,
        quoted_out_amount=row.quoted_out_amount,
        quoted_min_out_amount=row.quoted_min_out_amount,
        actual_in_amount=row.actual_in_amount,
        actual_out_amount=row.actual_out_amount,
        base_fee_lamports=row.base_fee_lamports,
        priority_fee_lamports=row.priority_fee_lamports,
        compute_unit_limit=row.compute_unit_limit,
        compute_unit_price_micro_lamports=row.compute_unit_price_micro_lamports,
        slot=row.slot,
        rent_lamports=row.rent_lamports,
        failed_attempt_fees_lamports=row.failed_attempt_fees_lamports,
        attempt=row.attempt,
        fill_usd_prices=_prices_from_json(row.fill_usd_prices),
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        confirmed_at=row.confirmed_at,
        signatures=tuple(
            SentSignature(
                signature=s.signature,
                last_valid_block_height=s.last_valid_block_height,
                recorded_at=s.recorded_at,
                transaction=s.transaction,
            )
            for s in sorted(row.signatures, key=lambda s: (s.recorded_at, s.signature))
        ),
    )


def _prices_from_json(text: str | None) -> dict[str, Decimal] | None:
    if not text:
        return None
    return {mint: Decimal(price) for mint, price in json.loads(text).items()}


def prices_to_json(prices: Mapping[str, Decimal]) -> str:
    """How `fill_usd_prices` is stored: decimal strings, exact."""
    return json.dumps({mint: str(price) for mint, price in sorted(prices.items())})


def _event(row: TradeEventRow) -> TradeEvent:
    return TradeEvent(
        id=row.id,
        trade_id=row.trade_id,
        at=row.at,
        kind=row.kind,  # type: ignore[arg-type]
        from_status=None if row.from_status is None else TradeStatus(row.from_status),
        to_status=TradeStatus(row.to_status),
        details=row.details,
    )


def _json_safe(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Event details: integers as strings (u64 survives JSON readers), times as ISO 8601."""
    safe: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, datetime):
            safe[name] = value.isoformat()
        elif isinstance(value, int) and not isinstance(value, bool):
            safe[name] = str(value)
        else:
            safe[name] = value
    return safe


def _failure_for(to: TradeStatus, failure: FailureReason | None) -> FailureReason | None:
    if to is TradeStatus.FAILED and failure is None:
        raise ValueError("a failed trade needs a FailureReason the user can read")
    if to is TradeStatus.EXPIRED and failure is None:
        return FailureReason.expired()
    if failure is not None and to not in (TradeStatus.FAILED, TradeStatus.EXPIRED):
        raise ValueError(f"only failed or expired trades carry a failure reason, not {to}")
    return failure


class TradeRepository:
    def __init__(self, database: Database, *, clock: WallClock = utc_now) -> None:
        self._db = database
        self._clock = clock

    async def create_trade_idempotent(
        self, user_id: str, idempotency_key: str, request: TradeRequest
    ) -> tuple[Trade, bool]:
        """The trade for this (user, key): new and pending (True), or the one made before (False).

        Raises NotFound when the wallet is not the user's, IdempotencyKeyReused when the key
        came before with a different request.
        """
        _check_idempotency_key(idempotency_key)
        now = self._clock()
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "wallet": request.wallet,
            "idempotency_key": idempotency_key,
            "request_fingerprint": request.fingerprint(),
            "input_mint": request.input_mint,
            "output_mint": request.output_mint,
            "amount": request.amount,
            "slippage_bps": request.slippage_bps,
            "requested_quote_id": request.quote_id,
            "requested_priority_fee": str(request.priority_fee),
            "max_priority_fee_lamports": request.max_priority_fee_lamports,
            "status": str(TradeStatus.PENDING),
            "created_at": now,
            "updated_at": now,
        }
        async with self._db.writing() as session:
            owner = await session.scalar(
                sa.select(WalletRow.user_id).where(WalletRow.pubkey == request.wallet)
            )
            if owner != user_id:
                raise NotFound(
                    f"no wallet {request.wallet} among yours",
                    code="WALLET_NOT_FOUND",
                    field="wallet",
                )
            inserted = await session.scalar(self._insert_unless_duplicate(values))
            if inserted is not None:
                session.add(
                    TradeEventRow(
                        trade_id=inserted,
                        at=now,
                        kind="created",
                        from_status=None,
                        to_status=str(TradeStatus.PENDING),
                        details={"idempotencyKey": idempotency_key},
                    )
                )
                await session.flush()
            row = await session.scalar(
                sa.select(TradeRow)
                .where(TradeRow.user_id == user_id, TradeRow.idempotency_key == idempotency_key)
                .options(selectinload(TradeRow.signatures))
            )
            assert row is not None, "the conflicting insert committed before ours resolved"
            if row.request_fingerprint != values["request_fingerprint"]:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used before with a different request",
                    field="Idempotency-Key",
                    trade_id=row.id,
                )
            return _trade(row), inserted is not None

    def _insert_unless_duplicate(self, values: dict[str, Any]) -> sa.Executable:
        # The unique constraint decides between concurrent duplicates: on PostgreSQL the second
        # insert waits for the first to commit, then does nothing; SQLite writers are serialized.
        if self._db.dialect == "postgresql":
            pg = postgresql.insert(TradeRow).values(**values)
            return pg.on_conflict_do_nothing(
                index_elements=["user_id", "idempotency_key"]
            ).returning(TradeRow.id)
        lite = sqlite.insert(TradeRow).values(**values)
        return lite.on_conflict_do_nothing(index_elements=["user_id", "idempotency_key"]).returning(
            TradeRow.id
        )

    async def transition(
        self,
        trade_id: str,
        to: TradeStatus,
        *,
        expected_from: TradeStatus | None = None,
        failure: FailureReason | None = None,
        signed_transaction: bytes | None = None,
        **fields: Any,
    ) -> Trade:
        """Move a trade to `to`, set `fields`, append the event: one database transaction.

        A `signature` set here joins the trade's signatures (with `last_valid_block_height` and
        `signed_transaction`). Entering SIGNED requires one: it must be written before sending.
        """
        unknown = fields.keys() - _UPDATABLE
        if unknown:
            raise TypeError(f"a transition cannot set {sorted(unknown)}")
        for name in fields.keys() & _U64_FIELDS:
            if fields[name] is not None:
                _check_u64(name, fields[name])
        prices = fields.get("fill_usd_prices")
        if prices is not None and not isinstance(prices, str):
            fields["fill_usd_prices"] = prices_to_json(prices)
        failure = _failure_for(to, failure)
        async with self._db.writing() as session:
            row = await self._locked(session, trade_id)
            current = TradeStatus(row.status)
            if expected_from is not None and current is not expected_from:
                raise InvalidTransition(
                    f"trade {trade_id} is {current}, not {expected_from} as expected",
                    trade_id=trade_id,
                    from_status=str(current),
                    to_status=str(to),
                )
            check_transition(trade_id, current, to)
            if to is TradeStatus.SIGNED and "signature" not in fields and row.signature is None:
                raise InvalidTransition(
                    f"trade {trade_id} cannot be signed without recording its signature",
                    trade_id=trade_id,
                )
            now = self._clock()
            for name, value in fields.items():
                setattr(row, name, value)
            if "signature" in fields:
                self._add_signature(row, signed_transaction, now)
            if to is TradeStatus.SENT and row.sent_at is None:
                row.sent_at = now
            if to is TradeStatus.CONFIRMED and row.confirmed_at is None:
                row.confirmed_at = now
            if failure is not None:
                row.failure_code, row.failure_message = failure.code, failure.message
            row.status = str(to)
            row.updated_at = now
            details = _json_safe(fields)
            if failure is not None:
                details["failure"] = {"code": failure.code, "message": failure.message}
            session.add(
                TradeEventRow(
                    trade_id=trade_id,
                    at=now,
                    kind="transition",
                    from_status=str(current),
                    to_status=str(to),
                    details=details,
                )
            )
            await session.flush()
            return _trade(row)

    async def record_sent_signature(
        self,
        trade_id: str,
        signature: str,
        last_valid_block_height: int,
        *,
        signed_transaction: bytes | None = None,
    ) -> Trade:
        """Record a re-signed transaction's signature before sending it (signed or sent only).

        Recording the same signature twice changes nothing.
        """
        async with self._db.writing() as session:
            row = await self._locked(session, trade_id)
            current = TradeStatus(row.status)
            if current not in (TradeStatus.SIGNED, TradeStatus.SENT):
                raise InvalidTransition(
                    f"trade {trade_id} is {current}: only a signed or sent trade takes signatures",
                    trade_id=trade_id,
                    from_status=str(current),
                )
            if any(s.signature == signature for s in row.signatures):
                return _trade(row)
            now = self._clock()
            row.signature = signature
            row.last_valid_block_height = last_valid_block_height
            row.updated_at = now
            self._add_signature(row, signed_transaction, now)
            session.add(
                TradeEventRow(
                    trade_id=trade_id,
                    at=now,
                    kind="signature",
                    from_status=str(current),
                    to_status=str(current),
                    details=_json_safe(
                        {"signature": signature, "last_valid_block_height": last_valid_block_height}
                    ),
                )
            )
            await session.flush()
            return _trade(row)

    @staticmethod
    def _add_signature(row: TradeRow, transaction: bytes | None, now: datetime) -> None:
        if row.signature is None or row.last_valid_block_height is None:
            raise ValueError("a signature needs its last_valid_block_height")
        if any(s.signature == row.signature for s in row.signatures):
            return
        row.signatures.append(
            TradeSignatureRow(
                signature=row.signature,
                trade_id=row.id,
                last_valid_block_height=row.last_valid_block_height,
                transaction=transaction,
                recorded_at=now,
            )
        )

    @staticmethod
    async def _locked(session: AsyncSession, trade_id: str) -> TradeRow:
        # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes writers.
        row = await session.scalar(
            sa.select(TradeRow)
            .where(TradeRow.id == trade_id)
            .options(selectinload(TradeRow.signatures))
            .with_for_update()
        )
        if row is None:
            raise _trade_not_found(trade_id)
        return row

    async def trade(self, trade_id: str) -> Trade:
        """Any trade by id, for the executor (no owner check)."""
        async with self._db.reading() as session:
            row = await session.scalar(_select_trades().where(TradeRow.id == trade_id))
            if row is None:
                raise _trade_not_found(trade_id)
            return _trade(row)

    async def trade_by_idempotency_key(self, user_id: str, idempotency_key: str) -> Trade | None:
        """The caller's trade made with this key, if any (a replayed request skips the work)."""
        async with self._db.reading() as session:
            row = await session.scalar(
                _select_trades().where(
                    TradeRow.user_id == user_id, TradeRow.idempotency_key == idempotency_key
                )
            )
            return None if row is None else _trade(row)

    async def get_trade(self, user_id: str, trade_id: str) -> Trade:
        """The caller's trade; NotFound whether it is absent or someone else's."""
        async with self._db.reading() as session:
            row = await session.scalar(
                _select_trades().where(TradeRow.id == trade_id, TradeRow.user_id == user_id)
            )
            if row is None:
                raise _trade_not_found(trade_id)
            return _trade(row)

    async def list_trades(
        self, user_id: str, *, wallet: str | None = None, limit: int = 50
    ) -> list[Trade]:
        """The caller's trades, newest first, optionally of one wallet."""
        if not 1 <= limit <= _MAX_LIST:
            raise InvalidRequest(f"limit must be within 1..{_MAX_LIST}", field="limit")
        query = _select_trades().where(TradeRow.user_id == user_id)
        if wallet is not None:
            query = query.where(TradeRow.wallet == wallet)
        query = query.order_by(TradeRow.created_at.desc(), TradeRow.id.desc()).limit(limit)
        async with self._db.reading() as session:
            return [_trade(row) for row in await session.scalars(query)]

    async def open_trades(self, *, limit: int = 10_000) -> list[Trade]:
        """Trades not yet final, oldest first: what a restarted executor must resume."""
        query = (
            _select_trades()
            .where(TradeRow.status.in_(_OPEN))
            .order_by(TradeRow.created_at, TradeRow.id)
            .limit(limit)
        )
        async with self._db.reading() as session:
            return [_trade(row) for row in await session.scalars(query)]

    async def events(self, trade_id: str) -> Sequence[TradeEvent]:
        """The trade's audit trail, in order."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                sa.select(TradeEventRow)
                .where(TradeEventRow.trade_id == trade_id)
                .order_by(TradeEventRow.id)
            )
            return [_event(row) for row in rows]


def _select_trades() -> sa.Select[TradeRow]:
    return sa.select(TradeRow).options(selectinload(TradeRow.signatures))
