"""`GET /v1/quote` and `GET /v1/sources`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from solbot.api._errors import error_response
from solbot.api._json import JSONBytes
from solbot.ops import request_id_var
from solbot.quotes import QuoteFailed, QuoteService

__all__ = ["quotes_router"]


def quotes_router(service: QuoteService) -> APIRouter:
    router = APIRouter(tags=["quotes"])

    @router.get("/v1/quote")
    async def get_quote(
        request: Request,
        input_mint: Annotated[str, Query(alias="inputMint", description="mint or symbol")],
        output_mint: Annotated[str, Query(alias="outputMint", description="mint or symbol")],
        amount: Annotated[str, Query(description="integer base units, as digits")],
        slippage_bps: Annotated[str | None, Query(alias="slippageBps")] = None,
        swap_mode: Annotated[str | None, Query(alias="swapMode")] = None,
        sources: Annotated[str | None, Query(description="comma list to restrict")] = None,
    ) -> Response:
        """The best quote from Jupiter, DFlow, Hashflow and Pyth within the deadline."""
        del input_mint, output_mint, amount, slippage_bps, swap_mode, sources  # parsed below
        try:
            body = await service.quote(dict(request.query_params), request_id_var.get())
        except QuoteFailed as exc:
            response = error_response(
                exc.status, exc.code, exc.message, {"sources": [o.to_json() for o in exc.outcomes]}
            )
            if exc.retry_after_s is not None:
                response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        return JSONBytes(body)

    @router.get("/v1/sources")
    async def get_sources() -> Response:
        """Each quote source's breaker state, error rate, latency percentiles and rate limit."""
        return JSONBytes(await service.sources_status())

    return router
