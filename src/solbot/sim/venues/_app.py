"""One Starlette app serving every simulated venue, plus `/admin/faults` and `/admin/market`."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from solbot.sim.chain import SimChain
from solbot.sim.faults import TARGETS, FaultBook, FaultProfileError
from solbot.sim.market import Market
from solbot.sim.venues._common import FastJSON
from solbot.sim.venues._dflow import DFlowVenue
from solbot.sim.venues._hashflow import HashflowVenue
from solbot.sim.venues._jupiter import JupiterVenue
from solbot.sim.venues._pyth import PythVenue

__all__ = ["create_venues_app"]


# Endpoints counted on their own too (a plan may cover quotes but not prices).
_ENDPOINTS = ("jupiter:quote", "jupiter:swap", "jupiter:price")


def _bad_request(code: str, message: str) -> FastJSON:
    return FastJSON({"error": {"code": code, "message": message, "details": {}}}, status_code=400)


def create_venues_app(
    chain: SimChain,
    market: Market,
    faults: FaultBook,
    *,
    clock: Callable[[], float] = time.time,
    sse_keepalive_s: float = 15.0,
    sse_max_s: float = 86_400.0,
) -> Starlette:
    """Jupiter (`/jupiter/swap/v1`, `/jupiter/price/v3`), DFlow (`/dflow`), Hashflow
    (`/hashflow/taker/v3/rfq`), Pyth Hermes (`/pyth/v2/...`) and the fault/market admin."""

    async def get_faults(_request: Request) -> Response:
        return FastJSON(faults.to_json())

    async def put_faults(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _bad_request("INVALID_JSON", "the body must be a JSON object")
        try:
            faults.update(body)
        except FaultProfileError as exc:
            return _bad_request("INVALID_FAULT_PROFILE", str(exc))
        return FastJSON(faults.to_json())

    async def get_market(_request: Request) -> Response:
        pools = []
        for key, pool in market.pools.items():
            state = market.pool_state(key)
            pools.append(
                {
                    "address": key,
                    "label": pool.label,
                    "mintA": str(pool.mint_a),
                    "mintB": str(pool.mint_b),
                    "vaultA": str(pool.vault_a),
                    "vaultB": str(pool.vault_b),
                    "reserveA": str(state.reserve_a if state else 0),
                    "reserveB": str(state.reserve_b if state else 0),
                    "feeBps": pool.fee_bps,
                    "thin": pool.thin,
                }
            )
        tokens = [
            {
                "symbol": token.symbol,
                "mint": token.mint,
                "decimals": token.decimals,
                "pythFeedId": token.pyth_feed_id,
                "fairPrice": market.fair_price(token.mint),
                "poolPrice": market.pool_price(token.mint),
            }
            for token in market.tokens.values()
        ]
        return FastJSON(
            {
                "slot": chain.slot,
                "maker": str(market.maker.pubkey()),
                "stats": market.stats(),
                "tokens": tokens,
                "pools": pools,
            }
        )

    async def get_traffic(request: Request) -> Response:
        """Requests each target received, and the most within any sliding window (default 1 s):
        what shows whether a client stayed under a venue's plan."""
        try:
            window_s = float(request.query_params.get("window_s", "1.0"))
        except ValueError:
            window_s = -1.0
        if not 0.0 < window_s <= 3600.0:
            return _bad_request(
                "INVALID_WINDOW", "window_s must be a number of seconds in (0, 3600]"
            )
        return FastJSON(
            {
                "windowS": window_s,
                "targets": {
                    target: {
                        "requests": len(faults.arrivals(target)),
                        "maxInWindow": faults.max_requests_in_window(target, window_s),
                    }
                    for target in (*TARGETS, *_ENDPOINTS)
                },
            }
        )

    routes = [
        *JupiterVenue(chain, market, faults, clock).routes(),
        *DFlowVenue(chain, market, faults).routes(),
        *HashflowVenue(chain, market, faults, clock).routes(),
        *PythVenue(market, faults, keepalive_s=sse_keepalive_s, stream_max_s=sse_max_s).routes(),
        HttpRoute("/admin/faults", get_faults, methods=["GET"]),
        HttpRoute("/admin/faults", put_faults, methods=["PUT"]),
        HttpRoute("/admin/market", get_market, methods=["GET"]),
        HttpRoute("/admin/traffic", get_traffic, methods=["GET"]),
    ]
    return Starlette(routes=routes)
