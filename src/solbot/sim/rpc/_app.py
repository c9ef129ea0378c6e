"""The simnet's Solana JSON-RPC 2.0 server over HTTP (Starlette): envelope, batches, rpc faults."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from solbot.ops import get_logger
from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook
from solbot.sim.rpc._errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
)
from solbot.sim.rpc._node import RpcNode

__all__ = ["create_rpc_app"]

_log = get_logger(__name__)

_JSON_HEADERS = {"content-type": "application/json"}
# The body mainnet's public RPC answers with its 429.
_RATE_LIMITED_MESSAGE = (
    "Too many requests for a specific RPC call, contact your app developer or support@rpcpool.com."
)
MAX_BATCH = 1000


def _error(error: RpcError, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


def _answer(node: RpcNode, request: Any) -> dict[str, Any] | None:
    """One JSON-RPC request object in, one response object out (None for a notification)."""
    if not isinstance(request, dict):
        return _error(RpcError(INVALID_REQUEST, "Invalid request"))
    request_id = request.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, int | str | float)
    ):
        return _error(RpcError(INVALID_REQUEST, "Invalid request"))
    method = request.get("method")
    if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
        return _error(RpcError(INVALID_REQUEST, "Invalid request"), request_id)
    params = request.get("params")
    if params is None:
        params = []
    if not isinstance(params, list):
        return _error(
            RpcError(-32602, "Invalid params: invalid type: map, expected a sequence"), request_id
        )
    try:
        result = node.call(method, params)
    except RpcError as error:
        response = _error(error, request_id)
    except Exception:
        _log.exception("rpc_method_crashed", method=method)
        response = _error(RpcError(INTERNAL_ERROR, "Internal error"), request_id)
    else:
        response = {"jsonrpc": "2.0", "result": result, "id": request_id}
    if "id" not in request:
        return None  # a notification gets no answer
    return response


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers={**_JSON_HEADERS, **(headers or {})})


def create_rpc_app(chain: SimChain, faults: FaultBook) -> Starlette:
    """Solana JSON-RPC on `POST /` (single and batch), `GET /health` as a validator answers it."""
    node = RpcNode(chain, faults)

    async def rpc(request: Request) -> Response:
        decision = await faults.before_request("rpc")
        if decision.action == "rate_limited":
            return _json(
                {
                    "jsonrpc": "2.0",
                    "error": {"code": 429, "message": _RATE_LIMITED_MESSAGE},
                    "id": None,
                },
                429,
                decision.headers,
            )
        if decision.action == "error":
            return _json(
                _error(
                    RpcError(
                        INTERNAL_ERROR, f"Internal error: upstream unavailable ({decision.status})"
                    )
                ),
                decision.status,
            )
        body = await request.body()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json(_error(RpcError(PARSE_ERROR, "Parse error")), 200, decision.headers)
        if isinstance(payload, list):
            if not payload or len(payload) > MAX_BATCH:
                return _json(_error(RpcError(INVALID_REQUEST, "Invalid request")))
            answers = [a for a in (_answer(node, item) for item in payload) if a is not None]
            if not answers:
                return Response(b"", 200, headers=decision.headers)
            return _json(answers, 200, decision.headers)
        answer = _answer(node, payload)
        if answer is None:
            return Response(b"", 200, headers=decision.headers)
        return _json(answer, 200, decision.headers)

    async def health(request: Request) -> Response:
        behind = node.lag_slots
        if behind > 128:
            return PlainTextResponse(f"behind {behind}", 200)
        return PlainTextResponse("ok", 200)

    app = Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/health", health)])
    app.state.node = node
    return app
