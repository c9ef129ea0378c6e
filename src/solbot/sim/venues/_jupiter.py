"""Jupiter Swap API v1 (`/quote`, `/swap`) and Price API v3, as the simnet serves them.

Routing is the market's pool routing (pool fees, up to three hops through SOL/USDC/USDT); under
the `illiquid_routes` fault every route goes through the thin ILQ pools (five hops or more).
Errors use Jupiter's bodies: routing `400 {"error","errorCode"}`, gateway `{"code","message"}`
(429 with `x-ratelimit-*`), and every answer carries `x-api-gateway-request-id`.

`/swap` re-prices the posted quote's route first: when the market has moved past the quote's
slippage it refuses with `400 {"errorCode": "SLIPPAGE_TOLERANCE_EXCEEDED"}` (the name of
Jupiter's on-chain error 6001) instead of building a transaction that would lose.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from solders.pubkey import Pubkey
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook, FaultDecision
from solbot.sim.market import (
    BPS,
    InvalidSwap,
    Market,
    NoRouteFound,
    Route,
    SlippageExceeded,
    SwapMode,
    UnknownToken,
)
from solbot.sim.venues._common import (
    FastJSON,
    PlannedStep,
    PriorityFee,
    VenueInputError,
    check_plan,
    parse_bool,
    parse_mint,
    parse_pubkey,
    parse_u64,
    read_json_body,
    request_id,
    swap_response_fields,
)

__all__ = ["JupiterVenue", "jupiter_quote_json"]

_TARGET = "jupiter"
_MAX_PRICE_IDS = 50
_CREATED_AT = "2024-06-05T08:55:25.527Z"


def other_amount_threshold(route: Route, slippage_bps: int) -> int:
    if route.swap_mode == "ExactIn":
        return route.out_amount * (BPS - slippage_bps) // BPS
    return route.in_amount + route.in_amount * slippage_bps // BPS


def jupiter_quote_json(
    route: Route, slippage_bps: int, context_slot: int, time_taken: float
) -> dict[str, Any]:
    return {
        "inputMint": route.input_mint,
        "inAmount": str(route.in_amount),
        "outputMint": route.output_mint,
        "outAmount": str(route.out_amount),
        "otherAmountThreshold": str(other_amount_threshold(route, slippage_bps)),
        "swapMode": route.swap_mode,
        "slippageBps": slippage_bps,
        # the spec's PlatformFee is not nullable (docs examples show null): send the zero fee
        "platformFee": {"amount": "0", "feeBps": 0},
        "priceImpactPct": f"{route.price_impact:.10f}".rstrip("0").rstrip(".") or "0",
        "routePlan": [
            {
                "swapInfo": {
                    "ammKey": hop.pool.key,
                    "label": hop.pool.label,
                    "inputMint": hop.input_mint,
                    "outputMint": hop.output_mint,
                    "inAmount": str(hop.in_amount),
                    "outAmount": str(hop.out_amount),
                    "feeAmount": str(hop.fee_amount),
                    "feeMint": hop.input_mint,
                },
                "percent": 100,
                "bps": 10_000,
            }
            for hop in route.hops
        ],
        "contextSlot": context_slot,
        "timeTaken": time_taken,
    }


def _error(message: str, code: str | None = None, status: int = 400) -> FastJSON:
    body: dict[str, Any] = {"error": message}
    if code is not None:
        body["errorCode"] = code
    return FastJSON(body, status_code=status)


class JupiterVenue:
    """Handlers of the simulated Jupiter; mounted under /jupiter."""

    def __init__(
        self,
        chain: SimChain,
        market: Market,
        faults: FaultBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.market = market
        self.faults = faults
        self._clock = clock

    def routes(self) -> list[HttpRoute]:
        return [
            HttpRoute("/jupiter/swap/v1/quote", self.quote, methods=["GET"]),
            HttpRoute("/jupiter/swap/v1/swap", self.swap, methods=["POST"]),
            HttpRoute("/jupiter/price/v3", self.price, methods=["GET"]),
        ]

    # ---- gateway ----------------------------------------------------------------------------

    async def _gate(self, endpoint: str) -> tuple[Response | None, dict[str, str]]:
        decision = await self.faults.before_request(_TARGET, endpoint)
        headers = {"x-api-gateway-request-id": request_id(), **decision.headers}
        return _gateway_refusal(decision, headers), headers

    # ---- /quote ----------------------------------------------------------------------------

    async def quote(self, request: Request) -> Response:
        refusal, headers = await self._gate("quote")
        if refusal is not None:
            return refusal
        response = self._quote(request)
        response.headers.update(headers)
        return response

    def _quote(self, request: Request) -> Response:
        started = time.perf_counter()
        params = request.query_params
        try:
            input_mint = parse_mint(params.get("inputMint"), "inputMint")
            output_mint = parse_mint(params.get("outputMint"), "outputMint")
            amount = parse_u64(params.get("amount"), "amount")
            slippage_bps = parse_u64(
                params.get("slippageBps"), "slippageBps", required=False, default=50
            )
            swap_mode = params.get("swapMode", "ExactIn")
            only_direct = parse_bool(params.get("onlyDirectRoutes"), "onlyDirectRoutes", False)
            parse_bool(params.get("restrictIntermediateTokens"), "restrictIntermediateTokens", True)
        except VenueInputError as exc:
            return _error(exc.message)
        if swap_mode not in ("ExactIn", "ExactOut"):
            return _error(
                f"Query parameter swapMode cannot be parsed: unknown variant `{swap_mode}`"
            )
        if slippage_bps > BPS:
            return _error("slippageBps must be at most 10000")
        if amount == 0:
            return _error("Invalid amount: must be greater than 0")
        if input_mint == output_mint:
            return _error("Circular arbitrage is disabled", "CIRCULAR_ARBITRAGE_IS_DISABLED")
        mode: SwapMode = "ExactIn" if swap_mode == "ExactIn" else "ExactOut"
        try:
            route = self.market.quote(
                input_mint,
                output_mint,
                amount,
                mode,
                max_hops=1 if only_direct else 3,
                illiquid=self.faults.get(_TARGET).illiquid_routes,
            )
        except UnknownToken as exc:
            return _error(f"The token {exc.mint} is not tradable", "TOKEN_NOT_TRADABLE")
        except NoRouteFound:
            return _error("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        taken = round(time.perf_counter() - started, 9)
        return FastJSON(jupiter_quote_json(route, slippage_bps, self.chain.slot, taken))

    # ---- /swap -----------------------------------------------------------------------------

    async def swap(self, request: Request) -> Response:
        refusal, headers = await self._gate("swap")
        if refusal is not None:
            return refusal
        try:
            body = await read_json_body(request)
            response = self._swap(body)
        except VenueInputError as exc:
            response = _error(exc.message, _SWAP_CODES.get(exc.code or ""))
        except InvalidSwap as exc:
            response = _error(str(exc), "MARKET_NOT_FOUND")
        except SlippageExceeded as exc:
            response = _error(str(exc), "SLIPPAGE_TOLERANCE_EXCEEDED")
        response.headers.update(headers)
        return response

    def _swap(self, body: dict[str, Any]) -> Response:
        user = parse_pubkey(body.get("userPublicKey"), "userPublicKey")
        quote = body.get("quoteResponse")
        if not isinstance(quote, dict):
            raise VenueInputError(
                "Failed to deserialize the JSON body into the target type: "
                "missing field `quoteResponse`"
            )
        input_mint = parse_mint(quote.get("inputMint"), "inputMint")
        output_mint = parse_mint(quote.get("outputMint"), "outputMint")
        in_amount = parse_u64(quote.get("inAmount"), "inAmount")
        out_amount = parse_u64(quote.get("outAmount"), "outAmount")
        threshold = parse_u64(quote.get("otherAmountThreshold"), "otherAmountThreshold")
        swap_mode = quote.get("swapMode", "ExactIn")
        if swap_mode not in ("ExactIn", "ExactOut"):
            raise VenueInputError(f"unknown swapMode {swap_mode!r}")
        plan = quote.get("routePlan")
        if not isinstance(plan, list):
            raise VenueInputError("quoteResponse.routePlan must be a list")
        steps = [_planned_step(step) for step in plan]
        check_plan(steps, input_mint, output_mint, in_amount, out_amount)
        pool_keys = [s.pool_key for s in steps]
        mints = [input_mint, *(s.output_mint for s in steps)]
        amounts = [in_amount, *(s.out_amount for s in steps)]
        legs = self.market.pool_legs(pool_keys, mints, amounts)
        mode: SwapMode = "ExactIn" if swap_mode == "ExactIn" else "ExactOut"
        self.market.check_slippage(pool_keys, input_mint, in_amount, out_amount, mode, threshold)
        wrap = body.get("wrapAndUnwrapSol", True)
        if not isinstance(wrap, bool):
            raise VenueInputError("wrapAndUnwrapSol must be a boolean")
        unit_limit = self.market.compute_unit_limit(len(legs))
        writable = [leg.receive_account for leg in legs] + [leg.pay_account for leg in legs]
        priority = PriorityFee.resolve(
            self.market, body, writable=writable, unit_limit=unit_limit, jito_allowed=True
        )
        expiry = body.get("blockhashSlotsToExpiry")
        built = self.market.build_swap(
            user=user,
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=in_amount,
            out_amount=out_amount,
            legs=legs,
            compute_unit_price_micro_lamports=priority.unit_price_micro_lamports,
            compute_unit_limit=unit_limit,
            wrap_and_unwrap_sol=wrap,
            jito_tip_lamports=priority.jito_tip_lamports,
            malicious=self.faults.get(_TARGET).malicious_tx,
            blockhash_slots_to_expiry=None
            if expiry is None
            else parse_u64(expiry, "blockhashSlotsToExpiry"),
        )
        answer = swap_response_fields(built, priority)
        answer["dynamicSlippageReport"] = None
        answer["simulationError"] = self._simulation_error(user, input_mint, in_amount)
        return FastJSON(answer)

    def _simulation_error(self, user: Pubkey, input_mint: str, in_amount: int) -> Any:
        """What Jupiter's own simulation would say: the user cannot pay the input."""
        if self.market.user_balance(user, input_mint) >= in_amount:
            return None
        return {
            "errorCode": "INSUFFICIENT_FUNDS",
            "error": f"insufficient funds: the user holds less than {in_amount} of {input_mint}",
        }

    # ---- Price API v3 ----------------------------------------------------------------------

    async def price(self, request: Request) -> Response:
        refusal, headers = await self._gate("price")
        if refusal is not None:
            return refusal
        ids = request.query_params.get("ids")
        if not ids:
            return _error("Query deserialize error: missing field `ids`")
        mints = [m for m in (part.strip() for part in ids.split(",")) if m]
        if len(mints) > _MAX_PRICE_IDS:
            return _error(f"too many ids: at most {_MAX_PRICE_IDS} per request")
        body: dict[str, Any] = {}
        slot = self.chain.slot
        for mint in mints:
            token = self.market.tokens.get(mint)
            if token is None or mint in body:
                continue
            price = self.market.pool_price(mint)
            if price is None:
                continue
            body[mint] = {
                "createdAt": _CREATED_AT if token.pyth_feed_id else _launch_time(self._clock()),
                "liquidity": round(self.market.liquidity_usd(mint), 2),
                "usdPrice": price,
                "blockId": slot,
                "decimals": token.decimals,
                "priceChange24h": round(self.market.walk.change_pct(mint), 4)
                if mint in self.market.walk.prices
                else None,
            }
        return FastJSON(body, headers=headers)


_SWAP_CODES = {
    "both": "INVALID_COMPUTE_UNIT_PRICE_AND_PRIORITIZATION_FEE",
    "route_is_empty": "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT",
    "amount": "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT",
    "leg": "FAILED_TO_GET_SWAP_AND_ACCOUNT_METAS",
}


def _planned_step(step: Any) -> PlannedStep:
    info = step.get("swapInfo") if isinstance(step, dict) else None
    if not isinstance(info, dict):
        raise VenueInputError("each routePlan step needs a swapInfo object")
    key = info.get("ammKey")
    if not isinstance(key, str):
        raise VenueInputError("swapInfo.ammKey must be a string")
    return PlannedStep(
        pool_key=key,
        input_mint=parse_mint(info.get("inputMint"), "swapInfo.inputMint"),
        output_mint=parse_mint(info.get("outputMint"), "swapInfo.outputMint"),
        in_amount=parse_u64(info.get("inAmount"), "swapInfo.inAmount"),
        out_amount=parse_u64(info.get("outAmount"), "swapInfo.outAmount"),
    )


def _launch_time(now: float) -> str:
    launched = dt.datetime.fromtimestamp(now, tz=dt.UTC) - dt.timedelta(hours=3)
    return launched.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _gateway_refusal(decision: FaultDecision, headers: dict[str, str]) -> Response | None:
    if decision.action == "rate_limited":
        return FastJSON(
            {"code": 429, "message": "[API Gateway] Too many requests"},
            status_code=429,
            headers=headers,
        )
    if decision.action == "error":
        status = decision.status
        # rate-limit headers never come on 5xx (Jupiter's docs)
        plain = {k: v for k, v in headers.items() if not k.startswith("x-ratelimit")}
        return FastJSON(
            {"code": status, "message": f"[API Gateway] {_REASONS.get(status, 'Upstream error')}"},
            status_code=status,
            headers=plain,
        )
    return None


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Request blocked by firewall",
}
