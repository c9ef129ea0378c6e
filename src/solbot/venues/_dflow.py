"""DFlow's imperative `/quote` and `/swap`, over HTTP.

Wire formats: wire-formats.md §4 and specs/dflow-aggregator-openapi.json. DFlow has no swap
mode: it quotes ExactIn only, so an ExactOut request is answered NoRoute without a call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import SecretStr

from solbot.domain import QuoteRequest, RouteLeg, SwapMode, SwapTransaction, VenueQuote
from solbot.errors import NoRoute, UpstreamError
from solbot.venues._http import Clock, VenueAnswer, VenueHttp, VenueSession
from solbot.venues._parse import (
    Malformed,
    count_hops,
    opt_decimal,
    opt_int,
    req_base64,
    req_list,
    req_mapping,
    req_str,
    req_u64,
)

__all__ = ["DFlowClient"]

# QuoteBadRequestCode values meaning "nothing tradable for this pair and amount".
_NO_ROUTE_CODES = frozenset({"route_not_found", "price_impact_too_high", "zero_out_amount"})


class DFlowClient:
    """Quotes and swaps from DFlow. Implements QuoteSource and SwapBuilder."""

    def __init__(
        self,
        http: VenueSession,
        base_url: str,
        *,
        api_key: SecretStr | None = None,
        name: str = "dflow",
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._venue = VenueHttp(http, source=name, api_key=api_key, clock=clock)

    def __repr__(self) -> str:
        return f"DFlowClient(name={self.name!r}, base_url={self._base_url!r}, {self._venue!r})"

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote:
        if request.swap_mode is not SwapMode.EXACT_IN:
            raise NoRoute(
                f"{self.name} quotes ExactIn only", source=self.name, venue_code="unsupported_mode"
            )
        params = {
            "inputMint": request.input_mint,
            "outputMint": request.output_mint,
            "amount": str(request.amount),
            "slippageBps": str(request.slippage_bps),
        }
        response = await self._venue.send(
            "GET", f"{self._base_url}/quote", params=params, timeout_s=timeout_s
        )
        if not response.is_success:
            raise self._error(response)
        body = self._venue.json(response)
        try:
            quote = self._parse_quote(body, request)
        except Malformed as exc:
            raise self._venue.malformed(exc) from None
        if quote.out_amount == 0 or quote.in_amount == 0:
            raise NoRoute(f"{self.name} quoted a zero amount", source=self.name)
        return quote

    async def build_swap(
        self,
        quote: VenueQuote,
        user_public_key: str,
        *,
        priority_fee_lamports: int | None,
        timeout_s: float,
    ) -> SwapTransaction:
        if quote.source != self.name:
            raise ValueError(f"{self.name} cannot build a swap for a {quote.source} quote")
        body: dict[str, Any] = {
            "userPublicKey": user_public_key,
            "quoteResponse": quote.raw,
            "dynamicComputeUnitLimit": True,
        }
        if priority_fee_lamports is not None:
            body["prioritizationFeeLamports"] = {"lamports": priority_fee_lamports}
        response = await self._venue.send(
            "POST", f"{self._base_url}/swap", json_body=body, timeout_s=timeout_s
        )
        if not response.is_success:
            raise self._error(response)
        answer = self._venue.json(response)
        try:
            swap = req_mapping(answer)
            return SwapTransaction(
                source=self.name,
                transaction=req_base64(swap, "swapTransaction"),
                last_valid_block_height=req_u64(swap, "lastValidBlockHeight"),
                prioritization_fee_lamports=opt_int(swap, "prioritizationFeeLamports"),
                compute_unit_limit=opt_int(swap, "computeUnitLimit"),
            )
        except Malformed as exc:
            raise self._venue.malformed(exc) from None

    def _parse_quote(self, body: Any, request: QuoteRequest) -> VenueQuote:
        quote = req_mapping(body)
        input_mint = req_str(quote, "inputMint")
        output_mint = req_str(quote, "outputMint")
        if (input_mint, output_mint) != (request.input_mint, request.output_mint):
            raise Malformed("the quote is for another pair")
        in_amount = req_u64(quote, "inAmount")
        out_amount = req_u64(quote, "outAmount")
        # minOutAmount is "same as otherAmountThreshold"; accept either when one is missing.
        min_out = opt_int(quote, "minOutAmount")
        if min_out is None:
            min_out = req_u64(quote, "otherAmountThreshold")
        legs = tuple(_leg(leg) for leg in req_list(quote, "routePlan"))
        slippage_bps = opt_int(quote, "slippageBps")
        return VenueQuote(
            source=self.name,
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=in_amount,
            out_amount=out_amount,
            min_out_amount=min_out,
            max_in_amount=in_amount,
            swap_mode=SwapMode.EXACT_IN,
            slippage_bps=request.slippage_bps if slippage_bps is None else slippage_bps,
            price_impact_pct=opt_decimal(quote, "priceImpactPct"),
            route_plan=legs,
            hops=count_hops(legs),
            context_slot=opt_int(quote, "contextSlot"),
            executable=True,
            expires_at=None,
            raw=quote,
        )

    def _error(self, response: VenueAnswer) -> UpstreamError:
        code, message = _error_fields(response)
        if response.status_code == HTTPStatus.BAD_REQUEST and code in _NO_ROUTE_CODES:
            return NoRoute(
                f"{self.name} found no route: {self._venue.redact(message or code)}",
                source=self.name,
                venue_code=code,
                status=response.status_code,
            )
        return self._venue.status_error(response, message, code)


def _leg(leg: Any) -> RouteLeg:
    fields = req_mapping(leg)
    return RouteLeg(
        venue=req_str(fields, "venue"),
        pool=req_str(fields, "marketKey"),
        input_mint=req_str(fields, "inputMint"),
        output_mint=req_str(fields, "outputMint"),
        in_amount=req_u64(fields, "inAmount"),
        out_amount=req_u64(fields, "outAmount"),
    )


def _error_fields(response: VenueAnswer) -> tuple[str | None, str | None]:
    """(code, msg) of a DFlow error body `{"code": "<snake_case>", "msg": "..."}`."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, text or None
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code")
    message = body.get("msg") if isinstance(body.get("msg"), str) else body.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )
