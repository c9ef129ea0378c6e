"""DFlow's imperative `/quote` and `/swap`, as the simnet serves them.

DFlow routes over the same pools as Jupiter but charges its own flat fee per leg
(`DFLOW_FEE_BPS`) instead of each pool's fee, so it beats Jupiter on 30 bps pools and loses on
25 bps ones. Errors are DFlow's `{"code": "<snake_case>", "msg": "..."}`; a faulted request
answers 503 `amm_map_lagging` (or 500 `failed_to_compute_route` when the fault asks for a 500).
The spec has no slippage code for /swap, so a quote the market has moved past is refused with
`invalid_out_amount` and a message naming the slippage.
"""

from __future__ import annotations

from typing import Any

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
    SlippageExceeded,
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

__all__ = ["DFLOW_FEE_BPS", "DFlowVenue"]

_TARGET = "dflow"
DFLOW_FEE_BPS = 28
_MAX_ROUTE_LENGTH = 3


def _error(code: str, msg: str, status: int = 400, **extra: Any) -> FastJSON:
    return FastJSON({"code": code, "msg": msg, **extra}, status_code=status)


class DFlowVenue:
    def __init__(self, chain: SimChain, market: Market, faults: FaultBook) -> None:
        self.chain = chain
        self.market = market
        self.faults = faults

    def routes(self) -> list[HttpRoute]:
        return [
            HttpRoute("/dflow/quote", self.quote, methods=["GET"]),
            HttpRoute("/dflow/swap", self.swap, methods=["POST"]),
        ]

    async def quote(self, request: Request) -> Response:
        refusal = _fault_refusal(await self.faults.before_request(_TARGET))
        if refusal is not None:
            return refusal
        slot = self.chain.slot
        params = request.query_params
        try:
            input_mint = parse_mint(params.get("inputMint"), "inputMint")
        except VenueInputError as exc:
            return _error("invalid_input_mint", exc.message, contextSlot=slot)
        try:
            output_mint = parse_mint(params.get("outputMint"), "outputMint")
        except VenueInputError as exc:
            return _error("invalid_output_mint", exc.message, contextSlot=slot)
        try:
            amount = parse_u64(params.get("amount"), "amount")
            only_direct = parse_bool(params.get("onlyDirectRoutes"), "onlyDirectRoutes", False)
            max_route = parse_u64(
                params.get("maxRouteLength"), "maxRouteLength", required=False, default=3
            )
            tolerance = params.get("priceImpactTolerancePct")
            tolerance_pct = (
                None if tolerance is None else parse_u64(tolerance, "priceImpactTolerancePct")
            )
        except VenueInputError as exc:
            return _error("route_not_found", exc.message, contextSlot=slot)
        raw_slippage = params.get("slippageBps", "auto")
        slippage_bps: int | None
        if raw_slippage == "auto":
            slippage_bps = None
        else:
            try:
                slippage_bps = parse_u64(raw_slippage, "slippageBps")
            except VenueInputError as exc:
                return _error("invalid_slippage_bps", exc.message, contextSlot=slot)
            if slippage_bps > BPS:
                return _error("invalid_slippage_bps", "slippageBps must be at most 10000")
        if amount == 0:
            return _error(
                "requested_input_amount_is_zero", "The input amount is zero", contextSlot=slot
            )
        if input_mint == output_mint:
            return _error(
                "same_input_and_output_mint",
                "The input and output mints are the same",
                contextSlot=slot,
            )
        max_hops = 1 if only_direct else max(1, min(max_route, _MAX_ROUTE_LENGTH))
        try:
            route = self.market.quote(
                input_mint,
                output_mint,
                amount,
                "ExactIn",
                max_hops=max_hops,
                illiquid=self.faults.get(_TARGET).illiquid_routes,
                fee_bps=DFLOW_FEE_BPS,
            )
        except (UnknownToken, NoRouteFound):
            return _error("route_not_found", "No route found", contextSlot=slot, routingSlot=slot)
        impact = route.price_impact
        if tolerance_pct is not None and impact * 100 > tolerance_pct:
            return _error(
                "price_impact_too_high",
                f"Price impact {impact * 100:.2f}% exceeds the tolerance of {tolerance_pct}%",
                contextSlot=slot,
            )
        if slippage_bps is None:
            slippage_bps = min(500, 50 + int(impact * 2 * BPS))
        threshold = route.out_amount * (BPS - slippage_bps) // BPS
        decimals = {m: t.decimals for m, t in self.market.tokens.items()}
        return FastJSON(
            {
                "inputMint": input_mint,
                "inAmount": str(route.in_amount),
                "outputMint": output_mint,
                "outAmount": str(route.out_amount),
                "otherAmountThreshold": str(threshold),
                "minOutAmount": str(threshold),
                "slippageBps": slippage_bps,
                "priceImpactPct": f"{impact:.10f}".rstrip("0").rstrip(".") or "0",
                "platformFee": None,
                "contextSlot": slot,
                "routingSlot": slot,
                "requestId": request_id(),
                "routePlan": [
                    {
                        "venue": hop.pool.label,
                        "marketKey": hop.pool.key,
                        "inputMint": hop.input_mint,
                        "outputMint": hop.output_mint,
                        "inAmount": str(hop.in_amount),
                        "outAmount": str(hop.out_amount),
                        "inputMintDecimals": decimals[hop.input_mint],
                        "outputMintDecimals": decimals[hop.output_mint],
                    }
                    for hop in route.hops
                ],
            }
        )

    async def swap(self, request: Request) -> Response:
        refusal = _fault_refusal(await self.faults.before_request(_TARGET))
        if refusal is not None:
            return refusal
        try:
            body = await read_json_body(request)
            return self._swap(body)
        except VenueInputError as exc:
            return _error(_SWAP_CODES.get(exc.code or "", "invalid_route_plan_leg"), exc.message)
        except InvalidSwap as exc:
            return _error("invalid_route_plan_leg", str(exc))
        except SlippageExceeded as exc:
            return _error("invalid_out_amount", str(exc))

    def _swap(self, body: dict[str, Any]) -> Response:
        try:
            user = parse_pubkey(body.get("userPublicKey"), "userPublicKey")
        except VenueInputError as exc:
            raise VenueInputError(exc.message, "user") from None
        quote = body.get("quoteResponse")
        if not isinstance(quote, dict):
            raise VenueInputError("quoteResponse is required", "route_is_empty")
        input_mint = parse_mint(quote.get("inputMint"), "inputMint")
        output_mint = parse_mint(quote.get("outputMint"), "outputMint")
        in_amount = parse_u64(quote.get("inAmount"), "inAmount")
        try:
            out_amount = parse_u64(quote.get("outAmount"), "outAmount")
            threshold = parse_u64(quote.get("otherAmountThreshold"), "otherAmountThreshold")
        except VenueInputError as exc:
            raise VenueInputError(exc.message, "out") from None
        plan = quote.get("routePlan")
        if not isinstance(plan, list):
            raise VenueInputError("quoteResponse.routePlan must be a list", "route_is_empty")
        if len(plan) > _MAX_ROUTE_LENGTH + 3:
            raise VenueInputError("the route plan is too long", "too_long")
        steps = [_planned_step(leg) for leg in plan]
        check_plan(steps, input_mint, output_mint, in_amount, out_amount)
        pool_keys = [s.pool_key for s in steps]
        mints = [input_mint, *(s.output_mint for s in steps)]
        amounts = [in_amount, *(s.out_amount for s in steps)]
        legs = self.market.pool_legs(pool_keys, mints, amounts)
        self.market.check_slippage(
            pool_keys,
            input_mint,
            in_amount,
            out_amount,
            "ExactIn",
            threshold,
            fee_bps=DFLOW_FEE_BPS,
        )
        wrap = body.get("wrapAndUnwrapSol", True)
        if not isinstance(wrap, bool):
            raise VenueInputError("wrapAndUnwrapSol must be a boolean")
        unit_limit = self.market.compute_unit_limit(len(legs))
        writable = [leg.receive_account for leg in legs] + [leg.pay_account for leg in legs]
        priority = PriorityFee.resolve(
            self.market, body, writable=writable, unit_limit=unit_limit, jito_allowed=False
        )
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
            malicious=self.faults.get(_TARGET).malicious_tx,
        )
        return FastJSON(swap_response_fields(built, priority))


_SWAP_CODES = {
    "both": "both_priority_fee_params_specified",
    "route_is_empty": "route_is_empty",
    "too_long": "route_too_long",
    "user": "invalid_user_public_key",
    "out": "invalid_out_amount",
    "amount": "invalid_route_plan_leg",
    "leg": "invalid_route_plan_leg",
}


def _planned_step(leg: Any) -> PlannedStep:
    if not isinstance(leg, dict) or not isinstance(leg.get("marketKey"), str):
        raise VenueInputError("each routePlan leg needs a marketKey", "leg")
    return PlannedStep(
        pool_key=leg["marketKey"],
        input_mint=parse_mint(leg.get("inputMint"), "routePlan.inputMint"),
        output_mint=parse_mint(leg.get("outputMint"), "routePlan.outputMint"),
        in_amount=parse_u64(leg.get("inAmount"), "routePlan.inAmount"),
        out_amount=parse_u64(leg.get("outAmount"), "routePlan.outAmount"),
    )


def _fault_refusal(decision: FaultDecision) -> Response | None:
    if decision.action == "rate_limited":
        return FastJSON(
            {"code": "rate_limited", "msg": "Too many requests"},
            status_code=429,
            headers=decision.headers,
        )
    if decision.action == "error":
        if decision.status == 500:
            return _error("failed_to_compute_route", "Failed to compute route", 500)
        return _error("amm_map_lagging", "The AMM map is lagging behind the chain", decision.status)
    return None
