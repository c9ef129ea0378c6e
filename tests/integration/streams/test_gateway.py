"""The /v1/stream gateway over real sockets (websockets client): prices, limits, shutdown."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from solbot.streams import StreamLimits
from tests.integration.streams.conftest import (
    BONK,
    SOL,
    USDC,
    GatewayFactory,
    eventually,
    recv_json,
    send_json,
    subscribe,
)


async def test_subscribe_sends_snapshot_then_updates_with_increasing_seq(
    gateway: GatewayFactory,
) -> None:
    """A subscriber gets the last price at once, then each new one with seq + 1 and ts in ms."""
    async with gateway() as gw:
        await gw.hub.publish_price(SOL, "147.1", "pyth", 100)
        await gw.hub.publish_price(SOL, "147.2", "pyth", 101)
        async with connect(gw.url) as ws:
            ack = await subscribe(ws, "prices", [SOL, USDC], op_id=7)
            assert ack == {
                "type": "subscribed",
                "id": 7,
                "channel": "prices",
                "assets": [SOL, USDC],
            }
            snapshot = await recv_json(ws)
            assert snapshot["type"] == "price"
            assert (snapshot["mint"], snapshot["price"], snapshot["seq"]) == (SOL, "147.2", 2)
            assert snapshot["source"] == "pyth" and snapshot["slot"] == 101
            await gw.hub.publish_price(SOL, "147.3", "pyth", 102)
            await gw.hub.publish_price(USDC, "1.0001", "jupiter", None)
            update = await recv_json(ws)
            usdc = await recv_json(ws)
        assert (update["price"], update["seq"]) == ("147.3", 3)
        assert update["ts"] >= snapshot["ts"] and update["ts"] > 1_700_000_000_000
        assert (usdc["mint"], usdc["seq"], usdc["slot"]) == (USDC, 1, None)
        assert gw.metric("solbot_ws_messages_sent_total", channel="prices") == 3


async def test_unsubscribe_stops_updates_of_that_asset_only(gateway: GatewayFactory) -> None:
    """After unsubscribing SOL the client still gets USDC, and no SOL frame arrives."""
    async with gateway() as gw, connect(gw.url) as ws:
        await subscribe(ws, "prices", [SOL, USDC])
        await send_json(ws, {"op": "unsubscribe", "channel": "prices", "assets": [SOL], "id": 2})
        ack = await recv_json(ws)
        assert ack == {"type": "unsubscribed", "id": 2, "channel": "prices", "assets": [SOL]}
        await gw.hub.publish_price(SOL, "150", "pyth", 1)
        await gw.hub.publish_price(USDC, "1", "pyth", 1)
        message = await recv_json(ws)
        assert message["mint"] == USDC


async def test_ping_op_is_answered_with_pong(gateway: GatewayFactory) -> None:
    """`{"op": "ping", "id": 7}` -> `{"type": "pong", "id": 7}`."""
    async with gateway() as gw, connect(gw.url) as ws:
        await send_json(ws, {"op": "ping", "id": 7})
        assert await recv_json(ws) == {"type": "pong", "id": 7}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "INVALID_JSON"),
        ("[1, 2]", "INVALID_OP"),
        ('{"op": "dance", "id": 3}', "INVALID_OP"),
        ('{"op": "subscribe", "channel": "gossip", "assets": [], "id": 3}', "INVALID_CHANNEL"),
        (
            '{"op": "subscribe", "channel": "prices", "assets": ["not-a-mint"], "id": 3}',
            "INVALID_ASSET",
        ),
        ('{"op": "subscribe", "channel": "prices", "id": 3}', "INVALID_ASSET"),
        ('{"op": "subscribe", "channel": "balances", "id": 3}', "AUTH_REQUIRED"),
    ],
)
async def test_malformed_frames_get_an_error_frame_and_the_connection_lives(
    gateway: GatewayFactory, frame: str, code: str
) -> None:
    """Bad input is answered with an error frame naming the problem; the connection stays open."""
    async with gateway() as gw, connect(gw.url) as ws:
        await ws.send(frame)
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] == code, error
        assert isinstance(error["message"], str) and error["message"]
        await send_json(ws, {"op": "ping", "id": 1})
        assert (await recv_json(ws))["type"] == "pong"


async def test_a_flood_of_invalid_frames_closes_with_1008(gateway: GatewayFactory) -> None:
    """Past `max_invalid_frames` bad frames the gateway closes the connection (policy violation)."""
    async with gateway(limits=StreamLimits(max_invalid_frames=3)) as gw, connect(gw.url) as ws:
        for _ in range(5):
            await ws.send("garbage")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv_json(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert gw.metric("solbot_ws_dropped_total", reason="invalid_frames") == 1


async def test_a_binary_frame_is_refused_with_an_error(gateway: GatewayFactory) -> None:
    """Only JSON text frames are spoken: a binary frame gets INVALID_JSON."""
    async with gateway() as gw, connect(gw.url) as ws:
        await ws.send(b"\x01\x02")
        assert (await recv_json(ws))["code"] == "INVALID_JSON"


async def test_a_frame_over_the_size_limit_closes_with_1009(gateway: GatewayFactory) -> None:
    """A client frame larger than `max_frame_bytes` ends the connection with 1009 (too big)."""
    async with gateway(limits=StreamLimits(max_frame_bytes=1024)) as gw, connect(gw.url) as ws:
        await ws.send("x" * 5000)
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_subscriptions_per_connection_are_capped(gateway: GatewayFactory) -> None:
    """Subscribing past `max_subscriptions` is refused whole, earlier subscriptions stand."""
    async with gateway(limits=StreamLimits(max_subscriptions=2)) as gw, connect(gw.url) as ws:
        await subscribe(ws, "prices", [SOL, USDC])
        await send_json(ws, {"op": "subscribe", "channel": "prices", "assets": [BONK], "id": 9})
        error = await recv_json(ws)
        assert (error["code"], error["id"]) == ("TOO_MANY_SUBSCRIPTIONS", 9)
        await gw.hub.publish_price(SOL, "1", "pyth", None)
        assert (await recv_json(ws))["mint"] == SOL


async def test_operations_past_the_rate_limit_are_refused(gateway: GatewayFactory) -> None:
    """A client sending operations faster than its bucket allows gets RATE_LIMITED errors."""
    limits = StreamLimits(ops_per_s=1.0, ops_burst=3, max_invalid_frames=100)
    async with gateway(limits=limits) as gw, connect(gw.url) as ws:
        for i in range(5):
            await send_json(ws, {"op": "ping", "id": i})
        answers = [await recv_json(ws) for _ in range(5)]
        assert [a["type"] for a in answers[:3]] == ["pong"] * 3
        assert [a.get("code") for a in answers[3:]] == ["RATE_LIMITED"] * 2


async def test_connections_past_the_cap_are_refused_with_503(gateway: GatewayFactory) -> None:
    """At `max_connections` a new handshake is answered 503 with Retry-After; others live on."""
    async with gateway(limits=StreamLimits(max_connections=2)) as gw:
        async with connect(gw.url) as first, connect(gw.url) as second:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(gw.url):
                    pass
            assert refused.value.response.status_code == 503
            assert refused.value.response.headers["Retry-After"] == "5"
            await send_json(first, {"op": "ping", "id": 1})
            await send_json(second, {"op": "ping", "id": 2})
            assert (await recv_json(first))["id"] == 1 and (await recv_json(second))["id"] == 2
        assert gw.metric("solbot_ws_dropped_total", reason="connection_cap") == 1
        await eventually(lambda: not gw.hub.clients)
        async with connect(gw.url):
            pass  # room again once they left


async def test_new_connections_per_second_are_capped_with_429(gateway: GatewayFactory) -> None:
    """Past the admission burst, handshakes get 429 until the bucket refills."""
    limits = StreamLimits(new_connections_per_s=2.0, new_connections_burst=2)
    async with gateway(limits=limits) as gw:
        async with connect(gw.url), connect(gw.url):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(gw.url):
                    pass
            assert refused.value.response.status_code == 429
            await asyncio.sleep(0.6)
            async with connect(gw.url):
                pass
        assert gw.metric("solbot_ws_dropped_total", reason="connection_rate") == 1


async def test_graceful_shutdown_closes_every_client_with_1012(gateway: GatewayFactory) -> None:
    """Stopping the server sends 1012 (service restart) to each client and refuses newcomers."""
    async with gateway() as gw:
        clients = [await connect(gw.url) for _ in range(3)]
        await subscribe(clients[0], "prices", [SOL])
        stopping = asyncio.create_task(gw.server.stop())
        for ws in clients:
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        await stopping
        assert not gw.hub.clients
        with pytest.raises(OSError):
            await connect(gw.url, open_timeout=1)


def _raw_handshake(port: int) -> socket.socket:
    """A client that upgrades and then goes silent: never reads, never answers a ping."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1024)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


async def test_a_vanished_peer_is_dropped_within_the_keepalive_timeout(
    gateway: GatewayFactory,
) -> None:
    """A peer that stops answering pings is dropped after ping interval + timeout, memory freed."""
    limits = StreamLimits(ping_interval_s=0.3, ping_timeout_s=0.3)
    async with gateway(limits=limits) as gw:
        silent = await asyncio.to_thread(_raw_handshake, gw.server.port)
        try:
            async with connect(gw.url, ping_interval=None) as alive:  # answers pings (auto-pong)
                await subscribe(alive, "prices", [SOL])
                await eventually(lambda: len(gw.hub.clients) == 2)
                started = asyncio.get_running_loop().time()
                await eventually(lambda: len(gw.hub.clients) == 1, timeout_s=3.0)
                elapsed = asyncio.get_running_loop().time() - started
                assert elapsed < 0.3 + 0.3 + 0.5
                assert gw.metric("solbot_ws_dropped_total", reason="keepalive_timeout") == 1
                await asyncio.sleep(1.0)  # several ping rounds: the live client stays
                await gw.hub.publish_price(SOL, "1", "pyth", None)
                assert (await recv_json(alive))["mint"] == SOL
                assert gw.metric("solbot_ws_connections") == 1
        finally:
            silent.close()


async def test_health_and_metrics_are_served_beside_the_stream(gateway: GatewayFactory) -> None:
    """The gateway's port answers /healthz and /metrics (Prometheus text with solbot_ws_*)."""
    async with gateway() as gw, connect(gw.url):
        base = f"http://127.0.0.1:{gw.server.port}"
        async with httpx.AsyncClient(timeout=5) as http:
            health = await http.get(f"{base}/healthz")
            metrics = await http.get(f"{base}/metrics")
            missing = await http.get(f"{base}/nope")
        assert health.status_code == 200 and orjson.loads(health.content) == {"status": "ok"}
        assert metrics.status_code == 200
        for name in (
            "solbot_ws_connections 1.0",
            "solbot_ws_messages_sent_total",
            "solbot_ws_dropped_total",
            "solbot_event_loop_lag_seconds",
            "solbot_ws_client_queue_depth_clients",
        ):
            assert name in metrics.text, name
        assert missing.status_code == 404
