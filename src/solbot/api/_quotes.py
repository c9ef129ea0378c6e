"""`GET /v1/quote` and `GET /v1/sources`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.types import Scope

from solbot.api._app import FastHandler
from solbot.api._errors import error_body, error_response, status_for
from solbot.api._json import JSONBytes
from solbot.errors import SolbotError
from solbot.ops import request_id_var
from solbot.quotes import QuoteFailed, QuoteService

__all__ = ["quote_fast_handler", "quotes_router"]


def quote_fast_handler(service: QuoteService) -> FastHandler:
    """`GET /v1/quote` served ahead of FastAPI (see `FastPath`): same answers, same errors."""

    async def handle(scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        query = scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            body = await service.quote(params, request_id_var.get())
        except QuoteFailed as exc:
            headers = []
            if exc.retry_after_s is not None:
                headers.append((b"retry-after", str(exc.retry_after_s).encode()))
            details = {"sources": [o.to_json() for o in exc.outcomes]}
            return exc.status, orjson.dumps(error_body(exc.code, exc.message, details)), headers
        except SolbotError as exc:
            field = getattr(exc, "field", None)
            details = {"field": field} if field is not None else {}
            return status_for(exc), orjson.dumps(error_body(exc.code, exc.message, details)), []
        return 200, orjson.dumps(body), []

    return handle


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
