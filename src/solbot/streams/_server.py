"""The gateway's own WebSocket server: `GET /v1/stream` on picows, beside `/healthz` and `/metrics`.

Why its own server and not a route of the FastAPI app: uvicorn's WebSocket implementations
(websockets, wsproto) cost tens of microseconds of Python per message sent and one awaited
`send` per client, which caps a 2-core instance far below 50,000 deliveries a second. picows
parses frames in Cython and exposes the raw transport, so the hub can write one pre-built frame to
10,000 transports in a tight synchronous loop, and pause/resume callbacks tell it exactly which
client lags. Everything else (auth, limits, protocol) lives in the hub and is server-agnostic.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from solbot.ops import Metrics, get_logger
from solbot.streams._client import StreamClient
from solbot.streams._hub import CLOSE_RESTART, StreamHub
from solbot.streams._limits import TokenBucket
from solbot.streams._metrics import EventLoopLagMonitor

__all__ = ["STREAM_PATH", "StreamServer", "tune_gc"]

_log = get_logger("solbot.streams.server")

STREAM_PATH = "/v1/stream"
_READ_BUFFER_BYTES = 1024  # grows when a bigger frame comes; most clients send ~100 bytes


def tune_gc(*, gen0_threshold: int = 50_000) -> None:
    """Keep the collector from stopping the world once 10,000 connections are alive.

    Everything built at start-up is moved out of the collector's sight (`gc.freeze`), and the
    young generation is collected every `gen0_threshold` allocations instead of 700, so the
    rare full collections walk far fewer objects. Call once, after start-up.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


class _PicowsConnection(WSListener):
    """picows callbacks -> the hub. One per connection; holds no buffer of its own."""

    __slots__ = ("_abort_handle", "_hub", "_loop", "client", "transport")

    def __init__(self, hub: StreamHub, loop: asyncio.AbstractEventLoop) -> None:
        self._hub = hub
        self._loop = loop
        self.transport: WSTransport | None = None
        self.client: StreamClient | None = None
        self._abort_handle: asyncio.TimerHandle | None = None

    # Connection protocol (what the hub sees). The hub's fan-out calls the raw transport's
    # `write` directly (bound on connect): frames are complete, so nothing picows does is skipped.
    def write(self, frame: bytes) -> None:
        if self.transport is not None:
            self.transport.underlying_transport.write(frame)

    def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        with contextlib.suppress(Exception):
            transport.send_close(WSCloseCode(code), reason.encode()[:120])
        # Give the close frame time to arrive; a peer that does not answer is dropped.
        self._abort_handle = self._loop.call_later(
            self._hub.limits.close_timeout_s, transport.disconnect, False
        )

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.disconnect(False)

    def ping(self) -> None:
        if self.transport is not None and not self.transport.is_close_frame_sent:
            self.transport.send_ping()

    def buffered_bytes(self) -> int:
        if self.transport is None:
            return 0
        return int(self.transport.underlying_transport.get_write_buffer_size())

    # picows callbacks
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        raw = transport.underlying_transport
        limits = self._hub.limits
        raw.set_write_buffer_limits(high=limits.write_buffer_high, low=limits.write_buffer_low)
        if limits.socket_send_buffer is not None:
            sock = raw.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.socket_send_buffer)
        client = self.client = self._hub.connect(self)
        client.write = raw.write  # type: ignore[assignment]

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        client = self.client
        if client is None:
            return
        kind = frame.msg_type
        if kind is WSMsgType.TEXT and frame.fin:
            self._hub.receive(client, frame.get_payload_as_bytes())
        elif kind is WSMsgType.PONG:
            self._hub.pong(client)
        elif kind is WSMsgType.CLOSE:
            # The client is leaving: answer its close (unless we started it) and hang up.
            if not transport.is_close_frame_sent:
                # A close without a status code is answered with 1000: echoing "no code" (0)
                # is a protocol error that strict clients (Node's ws) reject.
                code = frame.get_close_code()
                transport.send_close(WSCloseCode.OK if code == WSCloseCode.NO_INFO else code)
            client.closing = True
            transport.disconnect()
        elif kind is not WSMsgType.PING:
            # Binary or fragmented frames: this protocol speaks whole JSON text frames only.
            self._hub.receive(client, b"\x00")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        if self.client is not None:
            self._hub.disconnected(self.client)
            self.client.connection = _GONE
            self.client = None
        self.transport = None

    def pause_writing(self) -> None:
        if self.client is not None:
            self._hub.paused(self.client)

    def resume_writing(self) -> None:
        if self.client is not None:
            self._hub.resumed(self.client)


class _Gone:
    """Stands in for a closed connection so a late reference cannot touch a dead transport."""

    def write(self, frame: bytes) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        pass

    def abort(self) -> None:
        pass

    def ping(self) -> None:
        pass

    def buffered_bytes(self) -> int:
        return 0


_GONE = _Gone()


class StreamServer:
    """`GET /v1/stream` (and `/healthz`, `/metrics`) on its own port.

    `start()` binds (port 0 picks a free one) and starts the hub's companions; `stop()` refuses
    new connections, closes every client with 1012 (service restart: reconnect with backoff),
    waits for them up to `shutdown_timeout_s`, then drops the rest.
    """

    def __init__(
        self,
        hub: StreamHub,
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = STREAM_PATH,
        backlog: int = 4096,
        shutdown_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self._metrics = metrics
        self._host = host
        self._port = port
        self._path = path.encode()
        self._backlog = backlog
        self._shutdown_timeout_s = shutdown_timeout_s
        limits = hub.limits
        self._admission = TokenBucket(
            limits.new_connections_per_s, limits.new_connections_burst, clock
        )
        self._server: asyncio.Server | None = None
        self._lag = EventLoopLagMonitor(hub.metrics.event_loop_lag)
        self._stopping = False
        self.port = port

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self.port}{self._path.decode()}"

    @property
    def max_loop_lag_s(self) -> float:
        return self._lag.max_lag_s

    def _route(self, request: WSUpgradeRequest) -> Any:
        path = request.path.split(b"?", 1)[0]
        if path == self._path:
            return self._admit()
        if path == b"/healthz":
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_ok_response(
                    b'{"status":"ok"}', {"Content-Type": "application/json"}
                ),
                None,
            )
        if path == b"/metrics":
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_ok_response(
                    self._metrics.render(),
                    {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
                ),
                None,
            )
        return None  # 404

    def _refuse(self, status: HTTPStatus, reason: str, retry_after_s: int) -> Any:
        self.hub.metrics.dropped.labels(reason).inc()
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_error_response(
                status,
                b'{"error":{"code":"%s","message":"retry later"}}' % reason.upper().encode(),
                {"Retry-After": str(retry_after_s), "Content-Type": "application/json"},
            ),
            None,
        )

    def _admit(self) -> Any:
        if self._stopping:
            return self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "shutting_down", 1)
        if len(self.hub.clients) >= self.hub.limits.max_connections:
            return self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "connection_cap", 5)
        if not self._admission.take():
            return self._refuse(HTTPStatus.TOO_MANY_REQUESTS, "connection_rate", 1)
        return _PicowsConnection(self.hub, asyncio.get_running_loop())

    async def start(self) -> int:
        limits = self.hub.limits
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        sock.listen(self._backlog)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        await self.hub.start()
        self._server = await ws_create_server(
            self._route,
            sock=sock,
            backlog=self._backlog,
            websocket_handshake_timeout=limits.handshake_timeout_s,
            enable_auto_ping=False,  # the hub pings everyone from one sweeper, not a task each
            auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
            enable_auto_pong=True,
            max_frame_size=limits.max_frame_bytes,
            read_buffer_init_size=_READ_BUFFER_BYTES,
            logger_name="solbot.streams.picows",
        )
        self._lag.start()
        _log.info("stream_server_started", url=self.url)
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        self.hub.close_all(CLOSE_RESTART, "service restart: reconnect with backoff")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._shutdown_timeout_s):
                await self.hub.wait_all_gone()
        for client in list(self.hub.clients):
            client.connection.abort()
        await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._shutdown_timeout_s):
                await self._server.wait_closed()
        self._server = None
        await self._lag.stop()
        await self.hub.stop()
        _log.info("stream_server_stopped")

    async def __aenter__(self) -> StreamServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
