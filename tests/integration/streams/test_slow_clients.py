"""A client that stops reading is coalesced, then closed with 1013; a fast one never notices."""

from __future__ import annotations

import asyncio
import dataclasses
import socket

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from solbot.streams import StreamLimits
from tests.integration.streams.conftest import (
    SOL,
    USDC,
    Gateway,
    GatewayFactory,
    eventually,
    recv_json,
    subscribe,
)

# Small buffers so that ~80 frames fill the pipe to a silent client, while a reading client
# (unbounded websockets queue: it drains the socket whenever the loop lets it) has ~50 frames of
# slack before it would count as lagging.
LIMITS = StreamLimits(
    write_buffer_high=32 * 1024,
    write_buffer_low=8 * 1024,
    socket_send_buffer=4096,
    slow_client_timeout_s=0.8,
    close_timeout_s=10.0,
)
PAD = "9" * 500  # a long price string: fewer frames fill the buffers


async def _stalling_client(url: str, port: int) -> ClientConnection:
    """A websockets client on a socket with a 4 KB receive buffer; it reads only when told to."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await connect(url, sock=sock, max_queue=1, ping_interval=None)


async def _publish(gw: Gateway, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        await gw.hub.publish_price(SOL, f"{i}.{PAD}", "pyth", i)
        await gw.hub.publish_price(USDC, f"{i}.{PAD}", "pyth", i)
        await asyncio.sleep(0.001)  # the fast client shares this loop: let it read


async def _read_all(ws: ClientConnection, count: int) -> list[dict[str, object]]:
    return [await recv_json(ws) for _ in range(count)]


async def test_a_lagging_client_gets_coalesced_prices_and_a_fast_one_gets_every_price(
    gateway: GatewayFactory,
) -> None:
    """While a client's pipe is full its prices are coalesced (latest per asset wins, seq gaps
    show it); another client on the same assets receives every message in order meanwhile."""
    async with gateway(limits=dataclasses.replace(LIMITS, slow_client_timeout_s=10.0)) as gw:
        slow = await _stalling_client(gw.url, gw.server.port)
        async with connect(gw.url, ping_interval=None, max_queue=None) as fast:
            await subscribe(slow, "prices", [SOL, USDC])
            await subscribe(fast, "prices", [SOL, USDC])
            reader = asyncio.create_task(_read_all(fast, 2 * 300))
            await _publish(gw, 300)
            fast_messages = await reader
            assert [m["seq"] for m in fast_messages if m["mint"] == SOL] == list(range(1, 301))
            assert gw.metric("solbot_ws_dropped_total", reason="coalesced") > 0
            # The slow client catches up before its deadline: what it gets ends with the latest
            # price of each asset, with gaps where stale values were skipped.
            seen: dict[str, list[int]] = {SOL: [], USDC: []}
            while len(seen[SOL]) == 0 or seen[SOL][-1] != 300 or seen[USDC][-1] != 300:
                message = await recv_json(slow)
                seen[str(message["mint"])].append(int(str(message["seq"])))
            for seqs in seen.values():
                assert seqs == sorted(seqs) and len(seqs) < 300
            await slow.close()


async def test_a_client_lagging_past_its_limit_is_closed_with_1013(
    gateway: GatewayFactory,
) -> None:
    """A client that stays behind longer than `slow_client_timeout_s` is closed with 1013
    (try again later); the fast client on the same assets keeps receiving every price."""
    async with gateway(limits=LIMITS) as gw:
        slow = await _stalling_client(gw.url, gw.server.port)
        async with connect(gw.url, ping_interval=None, max_queue=None) as fast:
            await subscribe(slow, "prices", [SOL, USDC])
            await subscribe(fast, "prices", [SOL, USDC])
            reader = asyncio.create_task(_read_all(fast, 2 * 200))
            await _publish(gw, 200)
            await reader
            await eventually(
                lambda: gw.metric("solbot_ws_dropped_total", reason="slow_client") > 0,
                timeout_s=3.0,
            )
            await _publish(gw, 50, start=200)
            after = await _read_all(fast, 2 * 50)
            assert [m["seq"] for m in after if m["mint"] == SOL] == list(range(201, 251))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv_json(slow)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            await eventually(lambda: len(gw.hub.clients) == 1)
