"""The bot's Solana JSON-RPC client: the few methods it needs, with explicit timeouts and the
error tree's mapping (transport trouble is UpstreamUnavailable, a JSON-RPC error is
UpstreamRejected carrying the node's code, message and data)."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson

from solbot.errors import UpstreamRejected, UpstreamTimeout, UpstreamUnavailable

__all__ = ["RpcClient", "RpcError"]

_SOURCE = "rpc"


class RpcError(UpstreamRejected):
    """The node answered with a JSON-RPC error; `rpc_code` and `data` are the node's."""

    def __init__(self, message: str, *, rpc_code: int, data: Any = None) -> None:
        super().__init__(message, source=_SOURCE, code="RPC_ERROR", rpc_code=rpc_code)
        self.rpc_code = rpc_code
        self.data = data


class RpcClient:
    def __init__(self, http: httpx.AsyncClient, url: str, *, timeout_s: float = 5.0) -> None:
        self._http = http
        self._url = url
        self._timeout_s = timeout_s
        self._ids = itertools.count(1)

    async def call(self, method: str, params: list[Any], *, timeout_s: float | None = None) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        timeout = self._timeout_s if timeout_s is None else timeout_s
        try:
            response = await self._http.post(
                self._url,
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
                timeout=httpx.Timeout(timeout),
            )
        except httpx.TimeoutException:
            raise UpstreamTimeout(
                f"{method}: no answer within {timeout:.2f}s", source=_SOURCE
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{method}: {type(exc).__name__}", source=_SOURCE) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise UpstreamUnavailable(
                f"{method}: HTTP {response.status_code}",
                source=_SOURCE,
                status=response.status_code,
            )
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamUnavailable(f"{method}: answer is not JSON", source=_SOURCE) from None
        if not isinstance(payload, dict):
            raise UpstreamUnavailable(f"{method}: answer is not a JSON-RPC object", source=_SOURCE)
        error = payload.get("error")
        if error is not None:
            raise RpcError(
                f"{method}: {error.get('message', 'error')}",
                rpc_code=int(error.get("code", 0)),
                data=error.get("data"),
            )
        return payload.get("result")

    async def mint_decimals(self, mint: str, *, timeout_s: float | None = None) -> int | None:
        """The decimals of `mint`, or None when the address holds no SPL mint."""
        result = await self.call(
            "getAccountInfo", [mint, {"encoding": "jsonParsed"}], timeout_s=timeout_s
        )
        value = (result or {}).get("value")
        if not isinstance(value, dict):
            return None
        data = value.get("data")
        if not isinstance(data, dict):
            return None
        parsed = data.get("parsed") or {}
        if parsed.get("type") != "mint":
            return None
        decimals = (parsed.get("info") or {}).get("decimals")
        return int(decimals) if isinstance(decimals, int) else None
