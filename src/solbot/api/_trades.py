"""`POST /v1/trades`, `GET /v1/trades/{id}`, `GET /v1/trades?wallet=`: the caller's trades only.

A wallet or trade of another user answers 404, exactly as one that does not exist.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate `Depends(current_user)`
# in each route signature, and `current_user` is a local of the router factory.

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from solbot.api._accounts import current_user_dependency
from solbot.api._errors import error_response
from solbot.api._json import JSONBytes
from solbot.auth import AuthService, User
from solbot.errors import InvalidRequest
from solbot.quotes import QuoteFailed
from solbot.trading import TradeService, parse_idempotency_key, parse_trade_body, trade_json

__all__ = ["trades_router"]

_MAX_BODY_BYTES = 16_384


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > _MAX_BODY_BYTES:
        raise InvalidRequest(f"the body exceeds {_MAX_BODY_BYTES} bytes", code="INVALID_REQUEST")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body must be JSON", code="INVALID_REQUEST") from None


def trades_router(auth: AuthService, service: TradeService) -> APIRouter:
    router = APIRouter(tags=["trades"])
    current_user = current_user_dependency(auth)

    @router.post("/v1/trades", status_code=202)
    async def create_trade(
        request: Request,
        user: Annotated[User, Depends(current_user)],
        idempotency_key: Annotated[
            str | None,
            Header(alias="Idempotency-Key", description="unique per trade; a retry reuses it"),
        ] = None,
    ) -> Response:
        """Accept a trade: 202 `{tradeId, status}`; the same Idempotency-Key again returns the
        same trade (200), never a second one. Follow it with `GET /v1/trades/{tradeId}`."""
        key = parse_idempotency_key(idempotency_key)
        trade_request = parse_trade_body(await _json_body(request))
        try:
            trade, created = await service.submit(user.id, key, trade_request)
        except QuoteFailed as exc:
            return error_response(
                exc.status, exc.code, exc.message, {"sources": [o.to_json() for o in exc.outcomes]}
            )
        response = JSONBytes(
            {"tradeId": trade.id, "status": str(trade.status)}, status_code=202 if created else 200
        )
        response.headers["Location"] = f"/v1/trades/{trade.id}"
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    @router.get("/v1/trades/{trade_id}")
    async def get_trade(trade_id: str, user: Annotated[User, Depends(current_user)]) -> Response:
        """The trade: status, signature, quoted and actual amounts, fees, failure, timestamps."""
        return JSONBytes(trade_json(await service.get(user.id, trade_id)))

    @router.get("/v1/trades")
    async def list_trades(
        user: Annotated[User, Depends(current_user)],
        wallet: Annotated[str | None, Query(description="one of your wallets")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        """Your trades, newest first, optionally of one wallet."""
        trades = await service.list(user.id, wallet=wallet, limit=limit)
        return JSONBytes({"trades": [trade_json(t) for t in trades]})

    return router
