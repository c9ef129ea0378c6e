"""The price publisher against real price sources: the simnet's Hermes SSE and Jupiter Price v3,
and a Hermes stand-in that drops the stream to test reconnection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from websockets.asyncio.client import connect

from solbot.domain import KNOWN_TOKENS
from solbot.ops import AsgiServer
from solbot.streams import PricePublisher
from solbot.venues import AiohttpVenueSession, JupiterClient
from tests.integration.streams.conftest import SOL, GatewayFactory, recv_json, subscribe

SOL_FEED = KNOWN_TOKENS[0].pyth_feed_id


async def test_prices_follow_the_simnet_hermes_stream(gateway: GatewayFactory, simnet: Any) -> None:
    """Subscribers get `pyth` prices from Hermes SSE with a slot and a publish time."""
    async with gateway() as gw, httpx.AsyncClient() as http:
        publisher = PricePublisher(
            gw.hub, http=http, pyth_url=f"{simnet.endpoints.venues_url}/pyth", fallback=None
        )
        async with publisher, connect(gw.url) as ws:
            await subscribe(ws, "prices", [SOL])
            price = await recv_json(ws, timeout_s=5.0)
        assert price["type"] == "price" and price["mint"] == SOL
        assert price["source"] == "pyth"
        assert float(price["price"]) > 0 and isinstance(price["slot"], int)
        assert publisher.hermes_connections == 1


async def test_jupiter_prices_stand_in_while_hermes_is_down(
    gateway: GatewayFactory, simnet: Any
) -> None:
    """With Hermes refusing the stream, Jupiter Price v3 is polled and its prices published."""
    venues = simnet.endpoints.venues_url
    async with httpx.AsyncClient() as http, AiohttpVenueSession() as venue_http:
        fault = await http.put(f"{venues}/admin/faults", json={"pyth": {"error_rate": 1.0}})
        assert fault.status_code == 200, fault.text
        jupiter = JupiterClient(venue_http, f"{venues}/jupiter/swap/v1")
        async with gateway() as gw:
            publisher = PricePublisher(
                gw.hub,
                http=http,
                pyth_url=f"{venues}/pyth",
                fallback=jupiter,
                poll_interval_s=0.2,
                stale_after_s=0.5,
            )
            async with publisher, connect(gw.url) as ws:
                await subscribe(ws, "prices", [SOL])
                price = await recv_json(ws, timeout_s=5.0)
        assert price["source"] == "jupiter" and float(price["price"]) > 0
        assert publisher.hermes_connections == 0


def _hermes_stand_in(events_per_connection: list[list[bytes]]) -> Starlette:
    """Serves one scripted SSE body per connection, then closes it (as Hermes does after 24 h)."""
    served = {"connections": 0}

    async def stream(_request: Request) -> StreamingResponse:
        index = min(served["connections"], len(events_per_connection) - 1)
        served["connections"] += 1

        async def body() -> AsyncIterator[bytes]:
            for chunk in events_per_connection[index]:
                yield chunk
                await asyncio.sleep(0.01)
            if index == len(events_per_connection) - 1:
                await asyncio.sleep(30)  # the last connection stays open

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v2/updates/price/stream", stream)])


def _event(price: str, slot: int) -> bytes:
    return (
        b'data: {"binary":{"encoding":"hex","data":[]},"parsed":[{"id":"%s","price":'
        b'{"price":"%s","conf":"1","expo":-8,"publish_time":1},"metadata":{"slot":%d}}]}\n\n'
        % (SOL_FEED.encode() if SOL_FEED else b"", price.encode(), slot)
    )


async def test_the_publisher_reconnects_when_hermes_drops_the_stream(
    gateway: GatewayFactory,
) -> None:
    """Keep-alive comments are skipped, an `event: error` is survived, and after the server
    closes the stream the publisher reconnects and goes on publishing."""
    app = _hermes_stand_in(
        [
            [b":\n\n", _event("14748000000", 1), b"event: error\ndata: Error receiving update\n\n"],
            [b": keep-alive\n\n", _event("14750000000", 2)],
        ]
    )
    async with AsgiServer(app) as hermes, gateway() as gw, httpx.AsyncClient() as http:
        publisher = PricePublisher(gw.hub, http=http, pyth_url=hermes.url, fallback=None)
        async with connect(gw.url) as ws:
            await subscribe(ws, "prices", [SOL])
            async with publisher:
                first = await recv_json(ws, timeout_s=5.0)
                second = await recv_json(ws, timeout_s=5.0)
        assert (first["price"], first["slot"], first["seq"]) == ("147.48", 1, 1)
        assert (second["price"], second["slot"], second["seq"]) == ("147.5", 2, 2)
        assert publisher.hermes_connections == 2
