"""Pyth Hermes v2: `/v2/updates/price/latest` and the SSE `/v2/updates/price/stream`.

Prices are the market's fair prices (the oracle leads the pools) with a confidence band, as
strings scaled by 10**-8; ids are hex without `0x`. Errors are plain text like Hermes's
(`404 Price ids not found: <id>, ...`). The stream sends `data: <json>` at every market tick and
`:` keep-alive comments while nothing changes, and closes after `stream_max_s` (Hermes: 24 h).
`binary.data` is not a Wormhole-signed accumulator update (nothing here could verify one): it is
a `PNAU`-prefixed blob packing the same prices, hex or base64 as asked.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route as HttpRoute

from solbot.sim.faults import FaultBook, FaultDecision
from solbot.sim.market import Market, OraclePrice
from solbot.sim.venues._common import FastJSON

__all__ = ["PythVenue"]

_TARGET = "pyth"
_HEX = frozenset("0123456789abcdef")


class _BadQuery(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("bad query")
        self.response = response


class PythVenue:
    def __init__(
        self,
        market: Market,
        faults: FaultBook,
        *,
        keepalive_s: float = 15.0,
        stream_max_s: float = 86_400.0,
    ) -> None:
        self.market = market
        self.faults = faults
        self.keepalive_s = keepalive_s
        self.stream_max_s = stream_max_s

    def routes(self) -> list[HttpRoute]:
        return [
            HttpRoute("/pyth/v2/updates/price/latest", self.latest, methods=["GET"]),
            HttpRoute("/pyth/v2/updates/price/stream", self.stream, methods=["GET"]),
        ]

    def _feeds(self, request: Request) -> tuple[list[tuple[str, str]], str, bool]:
        """[(id, mint)], encoding, parsed; raises _BadQuery with Hermes's plain-text answer."""
        params = request.query_params
        raw_ids = params.getlist("ids[]") + params.getlist("ids")
        if not raw_ids:
            raise _BadQuery(
                PlainTextResponse(
                    "Failed to deserialize query string: missing field `ids`", status_code=400
                )
            )
        ids: list[str] = []
        for raw in raw_ids:
            normalized = raw.lower().removeprefix("0x")
            if len(normalized) != 64 or not _HEX.issuperset(normalized):
                raise _BadQuery(
                    PlainTextResponse(
                        f"Failed to deserialize query string: invalid price id {raw}",
                        status_code=400,
                    )
                )
            if normalized not in ids:
                ids.append(normalized)
        encoding = params.get("encoding", "hex")
        if encoding not in ("hex", "base64"):
            raise _BadQuery(
                PlainTextResponse(
                    "Failed to deserialize query string: encoding must be hex or base64",
                    status_code=400,
                )
            )
        parsed = params.get("parsed", "true") != "false"
        ignore_invalid = params.get("ignore_invalid_price_ids", "false") == "true"
        known = self.market.feed_mints()
        missing = [i for i in ids if i not in known]
        if missing and not ignore_invalid:
            raise _BadQuery(
                PlainTextResponse(f"Price ids not found: {', '.join(missing)}", status_code=404)
            )
        return [(i, known[i]) for i in ids if i in known], encoding, parsed

    def _update(self, feeds: list[tuple[str, str]], encoding: str, parsed: bool) -> dict[str, Any]:
        prices = [(feed_id, self.market.oracle_price(mint)) for feed_id, mint in feeds]
        present = [(feed_id, p) for feed_id, p in prices if p is not None]
        blob = _binary(present)
        update: dict[str, Any] = {
            "binary": {
                "encoding": encoding,
                "data": [blob.hex() if encoding == "hex" else base64.b64encode(blob).decode()],
            }
        }
        if parsed:
            update["parsed"] = [_parsed(feed_id, price) for feed_id, price in present]
        return update

    async def latest(self, request: Request) -> Response:
        refusal = _fault_refusal(await self.faults.before_request(_TARGET))
        if refusal is not None:
            return refusal
        try:
            feeds, encoding, parsed = self._feeds(request)
        except _BadQuery as bad:
            return bad.response
        return FastJSON(self._update(feeds, encoding, parsed))

    async def stream(self, request: Request) -> Response:
        refusal = _fault_refusal(await self.faults.before_request(_TARGET))
        if refusal is not None:
            return refusal
        try:
            feeds, encoding, parsed = self._feeds(request)
        except _BadQuery as bad:
            return bad.response
        return StreamingResponse(
            self._events(feeds, encoding, parsed),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def _events(
        self, feeds: list[tuple[str, str]], encoding: str, parsed: bool
    ) -> AsyncIterator[bytes]:
        ticked = asyncio.Event()
        self.market.add_price_listener(ticked.set)
        loop = asyncio.get_running_loop()
        closes_at = loop.time() + self.stream_max_s
        try:
            while True:
                remaining = closes_at - loop.time()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(ticked.wait(), timeout=min(self.keepalive_s, remaining))
                except TimeoutError:
                    yield b":\n\n"
                    continue
                ticked.clear()
                if self.faults.get(_TARGET).error_rate >= 1.0:
                    yield b"event: error\ndata: Error receiving update: upstream unavailable\n\n"
                    continue
                yield b"data: " + orjson.dumps(self._update(feeds, encoding, parsed)) + b"\n\n"
        finally:
            self.market.remove_price_listener(ticked.set)


def _parsed(feed_id: str, price: OraclePrice) -> dict[str, Any]:
    return {
        "id": feed_id,
        "price": {
            "price": str(price.price),
            "conf": str(price.conf),
            "expo": price.expo,
            "publish_time": price.publish_time,
        },
        "ema_price": {
            "price": str(price.ema_price),
            "conf": str(price.ema_conf),
            "expo": price.expo,
            "publish_time": price.publish_time,
        },
        "metadata": {
            "slot": price.slot,
            "proof_available_time": price.publish_time,
            "prev_publish_time": price.prev_publish_time,
        },
    }


def _binary(prices: list[tuple[str, OraclePrice]]) -> bytes:
    parts = [b"PNAU", struct.pack("<BBH", 1, 0, len(prices))]
    for feed_id, price in prices:
        parts.append(bytes.fromhex(feed_id))
        parts.append(struct.pack("<qQiq", price.price, price.conf, price.expo, price.publish_time))
    return b"".join(parts)


def _fault_refusal(decision: FaultDecision) -> Response | None:
    if decision.action == "rate_limited":
        return PlainTextResponse("Too Many Requests", status_code=429, headers=decision.headers)
    if decision.action == "error":
        return PlainTextResponse(
            "Error receiving update: upstream unavailable", status_code=decision.status
        )
    return None
