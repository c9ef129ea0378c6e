"""Jupiter Swap API v1 (`/quote`, `/swap`) and Price API v3, over HTTP.

Wire formats: wire-formats.md §2 and specs/jupiter-swap-v1.yaml, specs/jupiter-price-v3.yaml.
The quote is kept raw and posted back to `/swap` unchanged (§2.4: a strict re-serialisation
drops DynamicSwap `details` and the swap fails).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import SecretStr

from solbot.domain import QuoteRequest, RouteLeg, SwapMode, SwapTransaction, VenueQuote
from solbot.errors import NoRoute, UpstreamError, UpstreamRejected
from solbot.venues._http import Clock, VenueAnswer, VenueHttp, VenueSession
from solbot.venues._parse import (
    Malformed,
    count_hops,
    opt_decimal,
    opt_int,
    opt_number,
    opt_str,
    req_base64,
    req_list,
    req_mapping,
    req_str,
    req_u64,
)

__all__ = ["JupiterClient"]

# docs swap/v1/common-errors.mdx: answers that mean "no route for this pair and amount".
_NO_ROUTE_CODES = frozenset(
    {
        "COULD_NOT_FIND_ANY_ROUTE",
        "NO_ROUTES_FOUND",
        "TOKEN_NOT_TRADABLE",
        "MARKET_NOT_FOUND",
        "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT",
    }
)
_PRICE_IDS_PER_CALL = 50  # price.yaml: up to 50 ids per request


class JupiterClient:
    """Quotes, swaps and USD prices from Jupiter. Implements QuoteSource, SwapBuilder, PriceSource.

    `price_url` defaults to the Price API v3 beside `base_url` when `base_url` ends in `/swap/v1`
    (as both mainnet's `https://api.jup.ag/swap/v1` and the simnet's do).
    """

    def __init__(
        self,
        http: VenueSession,
        base_url: str,
        *,
        price_url: str | None = None,
        api_key: SecretStr | None = None,
        name: str = "jupiter",
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        if price_url is None and self._base_url.endswith("/swap/v1"):
            price_url = self._base_url.removesuffix("/swap/v1") + "/price/v3"
        self._price_url = price_url.rstrip("/") if price_url is not None else None
        self._venue = VenueHttp(http, source=name, api_key=api_key, clock=clock)

    def __repr__(self) -> str:
        return f"JupiterClient(name={self.name!r}, base_url={self._base_url!r}, {self._venue!r})"

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote:
        params = {
            "inputMint": request.input_mint,
            "outputMint": request.output_mint,
            "amount": str(request.amount),
            "slippageBps": str(request.slippage_bps),
            "swapMode": request.swap_mode.value,
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
            # The docs recommend it "for all normal flows": a wrong CU limit hurts priority.
            "dynamicComputeUnitLimit": True,
        }
        if priority_fee_lamports is not None:
            body["prioritizationFeeLamports"] = priority_fee_lamports
        response = await self._venue.send(
            "POST", f"{self._base_url}/swap", json_body=body, timeout_s=timeout_s
        )
        if not response.is_success:
            raise self._error(response)
        answer = self._venue.json(response)
        try:
            return self._parse_swap(answer)
        except Malformed as exc:
            raise self._venue.malformed(exc) from None

    async def prices(self, mints: Sequence[str], timeout_s: float) -> dict[str, float]:
        """USD price per mint; mints Jupiter cannot price reliably are absent."""
        if self._price_url is None:
            raise ValueError(f"{self.name} has no Price API URL")
        unique = list(dict.fromkeys(mints))
        chunks = [
            unique[i : i + _PRICE_IDS_PER_CALL] for i in range(0, len(unique), _PRICE_IDS_PER_CALL)
        ]
        answers = await asyncio.gather(*(self._prices_chunk(chunk, timeout_s) for chunk in chunks))
        result: dict[str, float] = {}
        for answer in answers:
            result.update(answer)
        return result

    async def _prices_chunk(self, mints: list[str], timeout_s: float) -> dict[str, float]:
        assert self._price_url is not None
        response = await self._venue.send(
            "GET", self._price_url, params={"ids": ",".join(mints)}, timeout_s=timeout_s
        )
        if not response.is_success:
            raise self._error(response)
        body = self._venue.json(response)
        try:
            entries = req_mapping(body)
            result: dict[str, float] = {}
            for mint in mints:
                entry = entries.get(mint)
                if not isinstance(entry, Mapping):
                    continue
                try:
                    price = opt_number(entry, "usdPrice")
                except Malformed:
                    continue
                if price is not None and price > 0:
                    result[mint] = price
        except Malformed as exc:
            raise self._venue.malformed(exc) from None
        return result

    def _parse_quote(self, body: Any, request: QuoteRequest) -> VenueQuote:
        quote = req_mapping(body)
        input_mint = req_str(quote, "inputMint")
        output_mint = req_str(quote, "outputMint")
        if (input_mint, output_mint) != (request.input_mint, request.output_mint):
            raise Malformed("the quote is for another pair")
        in_amount = req_u64(quote, "inAmount")
        out_amount = req_u64(quote, "outAmount")
        threshold = req_u64(quote, "otherAmountThreshold")
        mode = _swap_mode(opt_str(quote, "swapMode") or request.swap_mode.value)
        legs = tuple(_leg(step) for step in req_list(quote, "routePlan"))
        slippage_bps = opt_int(quote, "slippageBps")
        return VenueQuote(
            source=self.name,
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=in_amount,
            out_amount=out_amount,
            # otherAmountThreshold bounds the side that is not fixed.
            min_out_amount=threshold if mode is SwapMode.EXACT_IN else out_amount,
            max_in_amount=in_amount if mode is SwapMode.EXACT_IN else threshold,
            swap_mode=mode,
            slippage_bps=request.slippage_bps if slippage_bps is None else slippage_bps,
            price_impact_pct=opt_decimal(quote, "priceImpactPct"),
            route_plan=legs,
            hops=count_hops(legs),
            context_slot=opt_int(quote, "contextSlot"),
            executable=True,
            expires_at=None,
            raw=quote,
        )

    def _parse_swap(self, body: Any) -> SwapTransaction:
        swap = req_mapping(body)
        simulation_error = swap.get("simulationError")
        if simulation_error is not None:
            # A 200 can carry a failed simulation (§2.6): the transaction would not land.
            detail = simulation_error if isinstance(simulation_error, Mapping) else {}
            message = detail.get("error") or "simulation failed"
            code = detail.get("errorCode")
            raise UpstreamRejected(
                f"{self.name} built a swap that fails simulation: "
                f"{self._venue.redact(str(message))}",
                source=self.name,
                code="SIMULATION_FAILED",
                venue_code=str(code) if code is not None else None,
            )
        return SwapTransaction(
            source=self.name,
            transaction=req_base64(swap, "swapTransaction"),
            last_valid_block_height=req_u64(swap, "lastValidBlockHeight"),
            prioritization_fee_lamports=opt_int(swap, "prioritizationFeeLamports"),
            compute_unit_limit=opt_int(swap, "computeUnitLimit"),
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


def _swap_mode(value: str) -> SwapMode:
    try:
        return SwapMode(value)
    except ValueError:
        raise Malformed(f"swapMode {value[:20]!r} is unknown") from None


def _leg(step: Any) -> RouteLeg:
    swap_info = req_mapping(req_mapping(step), "swapInfo")
    return RouteLeg(
        venue=opt_str(swap_info, "label") or "unknown",
        pool=req_str(swap_info, "ammKey"),
        input_mint=req_str(swap_info, "inputMint"),
        output_mint=req_str(swap_info, "outputMint"),
        in_amount=req_u64(swap_info, "inAmount"),
        out_amount=req_u64(swap_info, "outAmount"),
    )


def _error_fields(response: VenueAnswer) -> tuple[str | None, str | None]:
    """(errorCode, message) of a Jupiter error body, whichever of its shapes (§2.5) it has."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, text or None
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("errorCode")
    message = body.get("error") if isinstance(body.get("error"), str) else body.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )
