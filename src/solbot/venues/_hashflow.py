"""Hashflow RFQ (`POST /taker/v3/rfq`) on Solana, over HTTP.

Wire format: wire-formats.md §5. Hashflow's Solana specifics are unverified, so the answer is
read leniently: the ready transaction may sit at `quotes[0].transaction`, `quotes[0].quoteData.txn`
or `quotes[0].txn`, and errors come in two shapes (`{"status": "fail", "error": {"code",
"message"}}` and `{"error": {"errorCode", "message"}}`), recognised by their message.

An RFQ quote is firm: the maker commits to `quoteTokenAmount` until `quoteExpiry`, so the
minimum out is the quoted out and slippage is 0. The maker builds its transaction for the trader
named in the request (a stand-in before the user is known); `build_swap` reuses the quote's
transaction when it was made for that user and is still fresh, and otherwise asks again with the
user as trader.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import SecretStr

from solbot.domain import QuoteRequest, RouteLeg, SwapMode, SwapTransaction, VenueQuote
from solbot.errors import NoRoute, UpstreamError, UpstreamRejected, UpstreamUnavailable
from solbot.venues._http import Clock, VenueAnswer, VenueHttp, VenueSession
from solbot.venues._parse import (
    Malformed,
    decode_base64,
    opt_int,
    opt_number,
    opt_str,
    req_list,
    req_mapping,
    req_str,
    req_u64,
)

__all__ = ["HashflowClient"]

# Lower-cased message fragments of Hashflow's failures, by what the caller can do about them.
_NO_ROUTE_MESSAGES = ("no maker supports", "below minimum amount", "exceeds supported amount")
_RATE_LIMIT_MESSAGES = ("rate limit",)
_UNAVAILABLE_MESSAGES = ("markets too volatile",)
# Makers want a trader to price for; before a user is known any valid key will do (the System
# Program's): the transaction it brings is unusable, and build_swap asks again for the real user.
ANONYMOUS_TRADER = "11111111111111111111111111111111"


class HashflowClient:
    """Firm RFQ quotes from Hashflow's makers. Implements QuoteSource and SwapBuilder.

    `chain_id` is the Solana chain id sent in `baseChain`/`quoteChain` (unverified upstream: 1 by
    default). `anonymous_trader` stands in for the trader when the request names no user.
    `expiry_margin_s` is how long before `quoteExpiry` a quote stops being reused for a
    swap, leaving time to sign and send.
    """

    def __init__(
        self,
        http: VenueSession,
        base_url: str,
        *,
        api_key: SecretStr | None = None,
        source_tag: str = "solbot",
        chain_id: int = 1,
        expiry_margin_s: float = 2.0,
        anonymous_trader: str = ANONYMOUS_TRADER,
        name: str = "hashflow",
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._source_tag = source_tag
        self._chain = {"chainType": "solana", "chainId": chain_id}
        self._expiry_margin_s = expiry_margin_s
        self._anonymous_trader = anonymous_trader
        self._clock = clock
        # Hashflow takes the bare credential in Authorization, no scheme (docs, taker API v3).
        self._venue = VenueHttp(
            http, source=name, api_key=api_key, api_key_header="authorization", clock=clock
        )

    def __repr__(self) -> str:
        return f"HashflowClient(name={self.name!r}, base_url={self._base_url!r}, {self._venue!r})"

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote:
        return await self._rfq(
            request, request.user_public_key or self._anonymous_trader, timeout_s
        )

    async def build_swap(
        self,
        quote: VenueQuote,
        user_public_key: str,
        *,
        priority_fee_lamports: int | None,
        timeout_s: float,
    ) -> SwapTransaction:
        """The maker's transaction for this quote. The maker sets the fees: the priority fee is
        not ours to choose here, so `priority_fee_lamports` is ignored."""
        if quote.source != self.name:
            raise ValueError(f"{self.name} cannot build a swap for a {quote.source} quote")
        fresh = quote.expires_at is None or (
            self._clock() < quote.expires_at - self._expiry_margin_s
        )
        ready = _transaction_for(quote.raw, user_public_key)
        if not (fresh and ready):
            request = QuoteRequest(
                input_mint=quote.input_mint,
                output_mint=quote.output_mint,
                amount=quote.in_amount
                if quote.swap_mode is SwapMode.EXACT_IN
                else quote.out_amount,
                slippage_bps=0,
                swap_mode=quote.swap_mode,
                user_public_key=user_public_key,
            )
            requote = await self._rfq(request, user_public_key, timeout_s)
            if requote.out_amount < quote.min_out_amount or requote.in_amount > quote.max_in_amount:
                raise UpstreamRejected(
                    f"{self.name} re-quoted worse than the accepted quote",
                    source=self.name,
                    code="REQUOTE_WORSE",
                )
            quote = requote
            if _transaction_for(quote.raw, user_public_key) is None:
                raise UpstreamRejected(
                    f"{self.name} sent no transaction for the trader", source=self.name
                )
        try:
            first = _first_quote(quote.raw)
            text = _transaction_text(first)
            assert text is not None  # _transaction_for checked it
            return SwapTransaction(
                source=self.name,
                transaction=decode_base64(text, "transaction"),
                last_valid_block_height=_lenient_int(first, "lastValidBlockHeight"),
                expires_at=quote.expires_at,
            )
        except Malformed as exc:
            raise self._venue.malformed(exc) from None

    async def _rfq(self, request: QuoteRequest, trader: str, timeout_s: float) -> VenueQuote:
        rfq: dict[str, Any] = {
            "baseToken": request.input_mint,
            "quoteToken": request.output_mint,
            "baseTokenAmount": None,
            "quoteTokenAmount": None,
            "trader": trader,
            "effectiveTrader": trader,
            "feesBps": 0,
        }
        # The trader pays baseToken and receives quoteToken; exactly one amount is fixed.
        amount_key = (
            "baseTokenAmount" if request.swap_mode is SwapMode.EXACT_IN else "quoteTokenAmount"
        )
        rfq[amount_key] = str(request.amount)
        body = {
            "source": self._source_tag,
            "baseChain": self._chain,
            "quoteChain": self._chain,
            "rfqs": [rfq],
            "calldata": False,
        }
        response = await self._venue.send(
            "POST", f"{self._base_url}/taker/v3/rfq", json_body=body, timeout_s=timeout_s
        )
        if not response.is_success:
            raise self._error(response, _lenient_json(response))
        answer = self._venue.json(response)
        if not isinstance(answer, Mapping):
            raise self._venue.malformed("a body that is not an object")
        if answer.get("status") == "fail" or (
            answer.get("error") is not None and not answer.get("quotes")
        ):
            raise self._error(response, answer)
        try:
            return self._parse_quote(answer, request)
        except Malformed as exc:
            raise self._venue.malformed(exc) from None

    def _parse_quote(self, answer: Mapping[str, Any], request: QuoteRequest) -> VenueQuote:
        quotes = req_list(answer, "quotes")
        if not quotes:
            raise NoRoute(f"{self.name} makers sent no quote", source=self.name)
        first = req_mapping(quotes[0])
        data = req_mapping(first, "quoteData")
        base_token = req_str(data, "baseToken")
        quote_token = req_str(data, "quoteToken")
        if (base_token, quote_token) != (request.input_mint, request.output_mint):
            raise Malformed("the quote is for another pair")
        in_amount = req_u64(data, "baseTokenAmount")
        out_amount = req_u64(data, "quoteTokenAmount")
        if in_amount == 0 or out_amount == 0:
            raise NoRoute(f"{self.name} quoted a zero amount", source=self.name)
        text = _transaction_text(first)
        if text is not None:
            decode_base64(text, "transaction")  # a garbled transaction is a malformed answer
        leg = RouteLeg(
            venue=opt_str(first, "marketMaker") or opt_str(data, "marketMaker") or "Hashflow",
            pool=opt_str(data, "pool") or "",
            input_mint=base_token,
            output_mint=quote_token,
            in_amount=in_amount,
            out_amount=out_amount,
        )
        return VenueQuote(
            source=self.name,
            input_mint=base_token,
            output_mint=quote_token,
            in_amount=in_amount,
            out_amount=out_amount,
            min_out_amount=out_amount,
            max_in_amount=in_amount,
            swap_mode=request.swap_mode,
            slippage_bps=0,
            price_impact_pct=None,
            route_plan=(leg,),
            hops=1,
            context_slot=_lenient_int(first, "contextSlot") or _lenient_int(answer, "contextSlot"),
            executable=text is not None,
            expires_at=opt_number(data, "quoteExpiry"),
            raw=answer,
        )

    def _error(self, response: VenueAnswer, body: Any) -> UpstreamError:
        message = _error_message(body)
        lowered = (message or "").lower()
        text = self._venue.redact(message or "no reason given")
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or _says(lowered, _RATE_LIMIT_MESSAGES):
            return self._venue.rate_limited(response, message)
        # A 5xx is an outage whatever its message says: the breaker must see it as one.
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return self._venue.status_error(response, message)
        if _says(lowered, _NO_ROUTE_MESSAGES):
            return NoRoute(f"{self.name} found no maker: {text}", source=self.name, status=status)
        if _says(lowered, _UNAVAILABLE_MESSAGES):
            return UpstreamUnavailable(
                f"{self.name} is not quoting: {text}", source=self.name, status=status
            )
        if response.is_success:
            return UpstreamRejected(f"{self.name} failed the RFQ: {text}", source=self.name)
        return self._venue.status_error(response, message)


def _says(lowered_message: str, fragments: tuple[str, ...]) -> bool:
    return any(fragment in lowered_message for fragment in fragments)


def _first_quote(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    quotes = req_list(raw, "quotes")
    if not quotes:
        raise Malformed("quotes is empty")
    return req_mapping(quotes[0])


def _transaction_text(first: Mapping[str, Any]) -> str | None:
    data = first.get("quoteData")
    candidates = (
        first.get("transaction"),
        data.get("txn") if isinstance(data, Mapping) else None,
        first.get("txn"),
    )
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _transaction_for(raw: Mapping[str, Any], user_public_key: str) -> str | None:
    """The quote's transaction if the maker built it for this user, else None."""
    try:
        first = _first_quote(raw)
    except Malformed:
        return None
    data = first.get("quoteData")
    trader = data.get("trader") if isinstance(data, Mapping) else None
    if trader != user_public_key:
        return None
    return _transaction_text(first)


def _lenient_int(obj: Mapping[str, Any], key: str) -> int | None:
    try:
        return opt_int(obj, key)
    except Malformed:
        return None


def _lenient_json(response: VenueAnswer) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _error_message(body: Any) -> str | None:
    """The human message of either Hashflow error shape, or of a plain-text body."""
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        return message if isinstance(message, str) else None
    if isinstance(error, str):
        return error
    message = body.get("message") or body.get("reason")
    return message if isinstance(message, str) else None
