"""`GET /v1/quote` and `GET /v1/sources`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.types import Scope

from solbot.api._app import FastHandler
from solbot.api._errors import error_body, solbot_error_body
from solbot.api._json import JSONBytes
from solbot.errors import SolbotError
from solbot.ops import request_id_var
from solbot.quotes import QuoteFailed, QuoteService

__all__ = ["quote_fast_handler", "quotes_router"]


def query_params(raw: bytes) -> dict[str, str]:
    """A query string's parameters as `dict(parse_qsl(..., keep_blank_values=True))` gives
    them (the last of a repeated name wins), without parse_qsl's cost (~5 us, a quote's hot
    path) for the plain queries clients send: no percent escapes, no '+'."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    params: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            params[name] = value
    return params


def quote_fast_handler(service: QuoteService) -> FastHandler:
    """`GET /v1/quote` as served ahead of FastAPI (see `FastPath`), and by its FastAPI route."""

    async def handle(scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        params = query_params(scope.get("query_string", b""))
        try:
            body = await service.quote(params, request_id_var.get())
        except QuoteFailed as exc:
            headers = []
            if exc.retry_after_s is not None:
                headers.append((b"retry-after", str(exc.retry_after_s).encode()))
            details = {"sources": [o.to_json() for o in exc.outcomes]}
            return exc.status, orjson.dumps(error_body(exc.code, exc.message, details)), headers
        except SolbotError as exc:
            status, error = solbot_error_body(exc)
            return status, orjson.dumps(error), []
        return 200, orjson.dumps(body), []

    return handle


def quotes_router(service: QuoteService) -> APIRouter:
    router = APIRouter(tags=["quotes"])
    handle = quote_fast_handler(service)

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
        del input_mint, output_mint, amount, slippage_bps, swap_mode, sources  # declared for docs
        status, body, headers = await handle(request.scope)
        return Response(
            body,
            status,
            headers={name.decode(): value.decode() for name, value in headers},
            media_type="application/json",
        )

    @router.get("/v1/sources")
    async def get_sources() -> Response:
        """Each quote source's breaker state, error rate, latency percentiles and rate limit."""
        return JSONBytes(await service.sources_status())

    return router
