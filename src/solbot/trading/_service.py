"""Accepting a trade (`POST /v1/trades`): validate, replay or refuse, quote, check the balance,
store it pending, hand it to the runner. Nothing is debited before a trade is accepted, and a bad
request is always a 4xx naming the field.

Order matters: the caller's wallet and a replayed Idempotency-Key are settled before any quote or
balance is asked for, so a retried request gets the same trade back whatever the market did since.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from solders.pubkey import Pubkey

from solbot.domain import QuoteRequest, QuoteSource, SwapMode, VenueQuote, resolve_symbol
from solbot.errors import InvalidRequest
from solbot.ledger import IdempotencyKeyReused, PriorityFee, Trade, TradeRepository, TradeRequest
from solbot.ops import get_logger
from solbot.quotes import QuoteService
from solbot.rpc import RpcClient, decode_token_account
from solbot.trading._runner import TradeRunner

__all__ = [
    "FEE_RESERVE_LAMPORTS",
    "NATIVE_MINT",
    "SourceRequoter",
    "TradeService",
    "Unprocessable",
    "parse_idempotency_key",
    "parse_trade_body",
]

_log = get_logger("solbot.trading")

NATIVE_MINT = "So11111111111111111111111111111111111111112"
U64_MAX = 2**64 - 1
MAX_IDEMPOTENCY_KEY = 128
#: what the wallet must hold in SOL beyond the amount: the base fee of a user + maker signature
FEE_RESERVE_LAMPORTS = 10_000
_TRADE_SOURCES = "jupiter,dflow,hashflow"  # Pyth is indicative: it is shown, never traded
_FIELDS = frozenset(
    {
        "wallet",
        "inputMint",
        "outputMint",
        "amount",
        "slippageBps",
        "quoteId",
        "priorityFee",
        "maxPriorityFeeLamports",
    }
)


class Unprocessable(InvalidRequest):
    """Well-formed, but it cannot be done as asked (balance, quote): 422."""

    status = 422


def parse_idempotency_key(raw: str | None) -> str:
    if raw is None:
        raise InvalidRequest(
            "the Idempotency-Key header is required: a unique string per trade you mean to make",
            code="INVALID_IDEMPOTENCY_KEY",
            field="Idempotency-Key",
        )
    if not 1 <= len(raw) <= MAX_IDEMPOTENCY_KEY or not raw.isascii() or not raw.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            code="INVALID_IDEMPOTENCY_KEY",
            field="Idempotency-Key",
        )
    return raw


def _address(raw: Any, field: str, code: str, *, symbols: bool) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest(f"{field} is required", code=code, field=field)
    value = resolve_symbol(raw.strip()) if symbols else raw.strip()
    try:
        Pubkey.from_string(value)
    except ValueError:
        shown = value if len(value) <= 64 else value[:61] + "..."
        what = "a known symbol or a base58 mint address" if symbols else "a base58 address"
        raise InvalidRequest(f"{field} {shown!r} is not {what}", code=code, field=field) from None
    return value


def _whole(raw: Any, field: str, code: str, *, low: int, high: int) -> int:
    """An integer given as a JSON number or a string of digits (u64 does not fit a double)."""
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 20:
        value = int(raw)
    else:
        value = None
    if value is None or not low <= value <= high:
        raise InvalidRequest(
            f"{field} must be a whole number from {low} to {high}", code=code, field=field
        )
    return value


def parse_trade_body(body: Any) -> TradeRequest:
    """`POST /v1/trades`'s JSON body as a TradeRequest; InvalidRequest naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", code="INVALID_REQUEST")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r}; expected {', '.join(sorted(_FIELDS))}",
            code="INVALID_REQUEST",
            field=unknown[0],
        )
    wallet = _address(body.get("wallet"), "wallet", "INVALID_WALLET", symbols=False)
    input_mint = _address(body.get("inputMint"), "inputMint", "INVALID_MINT", symbols=True)
    output_mint = _address(body.get("outputMint"), "outputMint", "INVALID_MINT", symbols=True)
    if input_mint == output_mint:
        raise InvalidRequest(
            "inputMint and outputMint are the same token", code="SAME_MINT", field="outputMint"
        )
    amount = _whole(body.get("amount"), "amount", "INVALID_AMOUNT", low=1, high=U64_MAX)
    slippage_bps = _whole(
        body.get("slippageBps", 50), "slippageBps", "INVALID_SLIPPAGE", low=0, high=10_000
    )
    quote_id = body.get("quoteId")
    if quote_id is not None and (
        not isinstance(quote_id, str) or not 1 <= len(quote_id) <= 128 or not quote_id.isprintable()
    ):
        raise InvalidRequest(
            "quoteId must be the quoteId of GET /v1/quote", code="INVALID_QUOTE_ID", field="quoteId"
        )
    raw_fee = body.get("priorityFee", "auto")
    priority_fee: PriorityFee = (
        "auto"
        if raw_fee == "auto"
        else _whole(raw_fee, "priorityFee", "INVALID_PRIORITY_FEE", low=0, high=U64_MAX)
    )
    raw_cap = body.get("maxPriorityFeeLamports")
    max_fee = (
        None
        if raw_cap is None
        else _whole(raw_cap, "maxPriorityFeeLamports", "INVALID_PRIORITY_FEE", low=0, high=U64_MAX)
    )
    return TradeRequest(
        wallet=wallet,
        input_mint=input_mint,
        output_mint=output_mint,
        amount=amount,
        slippage_bps=slippage_bps,
        quote_id=quote_id,
        priority_fee=priority_fee,
        max_priority_fee_lamports=max_fee,
    )


class WalletDirectory(Protocol):
    """What the service needs of the keystore's wallets (`WalletService.get_wallet`): NotFound
    when the wallet is not the caller's."""

    async def get_wallet(self, user_id: str, pubkey: str) -> object: ...


@dataclass(frozen=True, slots=True)
class _Submission:
    fingerprint: str
    result: asyncio.Future[tuple[Trade, bool]]


class TradeService:
    """`submit` accepts a trade (or returns the one its key made before); `get`/`list` read them
    for their owner only."""

    def __init__(
        self,
        *,
        trades: TradeRepository,
        wallets: WalletDirectory,
        quotes: QuoteService,
        rpc: RpcClient,
        runner: TradeRunner,
        rpc_timeout_s: float = 3.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._trades = trades
        self._wallets = wallets
        self._quotes = quotes
        self._rpc = rpc
        self._runner = runner
        self._rpc_timeout_s = rpc_timeout_s
        self._wall_clock = wall_clock
        self._submitting: dict[tuple[str, str], _Submission] = {}

    async def submit(
        self, user_id: str, idempotency_key: str, request: TradeRequest
    ) -> tuple[Trade, bool]:
        """The trade for (user, key): `(trade, True)` when accepted now, `(trade, False)` when the
        key made it before. Concurrent duplicates here share one attempt; across instances the
        ledger's unique key decides."""
        await self._wallets.get_wallet(user_id, request.wallet)  # NotFound: not the caller's
        slot = (user_id, idempotency_key)
        fingerprint = request.fingerprint()
        ongoing = self._submitting.get(slot)
        if ongoing is not None:
            if ongoing.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key is in use with a different request",
                    field="Idempotency-Key",
                )
            trade, _ = await asyncio.shield(ongoing.result)
            return trade, False
        submission = _Submission(fingerprint, asyncio.get_running_loop().create_future())
        self._submitting[slot] = submission
        try:
            outcome = await self._submit(user_id, idempotency_key, request)
        except BaseException as exc:
            submission.result.set_exception(exc)
            submission.result.exception()  # retrieved: duplicates may not be waiting
            raise
        else:
            submission.result.set_result(outcome)
            return outcome
        finally:
            del self._submitting[slot]

    async def _submit(
        self, user_id: str, idempotency_key: str, request: TradeRequest
    ) -> tuple[Trade, bool]:
        existing = await self._trades.trade_by_idempotency_key(user_id, idempotency_key)
        if existing is not None:
            if existing.request.fingerprint() != request.fingerprint():
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used before with a different request",
                    field="Idempotency-Key",
                    trade_id=existing.id,
                )
            return existing, False
        quote = await self._quote(request)
        await self._require_balance(request)
        trade, created = await self._trades.create_trade_idempotent(
            user_id, idempotency_key, request
        )
        if created:
            _log.info(
                "trade_accepted",
                trade_id=trade.id,
                wallet=trade.wallet,
                source=quote.source,
                input_mint=request.input_mint,
                output_mint=request.output_mint,
                amount=str(request.amount),
            )
            self._runner.submit(trade, quote)
        return trade, created

    async def _quote(self, request: TradeRequest) -> VenueQuote:
        if request.quote_id is None:
            body = await self._quotes.quote(
                {
                    "inputMint": request.input_mint,
                    "outputMint": request.output_mint,
                    "amount": str(request.amount),
                    "slippageBps": str(request.slippage_bps),
                    "sources": _TRADE_SOURCES,
                }
            )
            issued = self._quotes.book.get(str(body["quoteId"]))
            if issued is None or not issued.quote.executable:
                raise Unprocessable(
                    "no venue offers an executable quote for this trade right now",
                    code="NO_EXECUTABLE_QUOTE",
                )
            return issued.quote
        issued = self._quotes.book.get(request.quote_id)
        if issued is None:
            raise Unprocessable(
                "quoteId is unknown or has expired; ask GET /v1/quote for a new one",
                code="QUOTE_NOT_FOUND",
                field="quoteId",
            )
        quote = issued.quote
        asked = (request.input_mint, request.output_mint, request.amount, request.slippage_bps)
        quoted = (quote.input_mint, quote.output_mint, quote.in_amount, quote.slippage_bps)
        if asked != quoted or quote.swap_mode is not SwapMode.EXACT_IN:
            raise Unprocessable(
                "the quote is for another pair, amount or slippage than this trade",
                code="QUOTE_MISMATCH",
                field="quoteId",
            )
        if not quote.executable:
            raise Unprocessable(
                "this quote is indicative (an oracle price) and cannot be traded",
                code="QUOTE_NOT_EXECUTABLE",
                field="quoteId",
            )
        return quote

    async def _require_balance(self, request: TradeRequest) -> None:
        lamports = await self._rpc.get_balance(request.wallet, timeout_s=self._rpc_timeout_s)
        if request.input_mint == NATIVE_MINT:
            need = request.amount + FEE_RESERVE_LAMPORTS
            if lamports < need:
                raise Unprocessable(
                    f"the wallet holds {lamports} lamports; this trade needs {need} "
                    f"({request.amount} plus {FEE_RESERVE_LAMPORTS} for fees)",
                    code="INSUFFICIENT_FUNDS",
                    field="amount",
                )
            return
        accounts = await self._rpc.get_token_accounts_by_owner(
            request.wallet, mint=request.input_mint, timeout_s=self._rpc_timeout_s
        )
        held = 0
        for state in accounts.values():
            token = decode_token_account(state)
            if token is not None:
                held += token.amount
        if held < request.amount:
            raise Unprocessable(
                f"the wallet holds {held} base units of {request.input_mint}; "
                f"this trade needs {request.amount}",
                code="INSUFFICIENT_FUNDS",
                field="amount",
            )
        if lamports < FEE_RESERVE_LAMPORTS:
            raise Unprocessable(
                f"the wallet holds {lamports} lamports; fees need {FEE_RESERVE_LAMPORTS}",
                code="INSUFFICIENT_FUNDS",
                field="wallet",
            )

    async def get(self, user_id: str, trade_id: str) -> Trade:
        """The caller's trade; NotFound whether it is absent or someone else's."""
        if not 1 <= len(trade_id) <= 64:
            raise InvalidRequest("no such trade", code="TRADE_NOT_FOUND", field="tradeId")
        return await self._trades.get_trade(user_id, trade_id)

    async def list(self, user_id: str, *, wallet: str | None, limit: int) -> list[Trade]:
        """The caller's trades, newest first; a wallet not theirs is NotFound."""
        if wallet is not None:
            await self._wallets.get_wallet(user_id, wallet)
        return await self._trades.list_trades(user_id, wallet=wallet, limit=limit)


class SourceRequoter:
    """The executor's `Requoter`: the same venue again, for the same pair, amount and slippage."""

    def __init__(self, sources: Mapping[str, QuoteSource]) -> None:
        self._sources = dict(sources)

    async def requote(self, quote: VenueQuote, wallet: str, *, timeout_s: float) -> VenueQuote:
        source = self._sources.get(quote.source)
        if source is None:
            raise InvalidRequest(f"no venue {quote.source} to quote again", code="NO_ROUTE")
        amount = quote.in_amount if quote.swap_mode is SwapMode.EXACT_IN else quote.out_amount
        return await source.quote(
            QuoteRequest(
                input_mint=quote.input_mint,
                output_mint=quote.output_mint,
                amount=amount,
                slippage_bps=quote.slippage_bps,
                swap_mode=quote.swap_mode,
                user_public_key=wallet,
            ),
            timeout_s,
        )
