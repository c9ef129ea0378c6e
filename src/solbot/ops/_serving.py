"""Run ASGI apps on uvicorn inside an event loop we own: several servers per process, port 0
allowed (the bound port is reported), no signal handling of their own (the caller owns Ctrl-C)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["AsgiServer"]


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The process's composition root handles SIGINT/SIGTERM once for every server.
        yield


class AsgiServer:
    """One uvicorn server for one app; `async with` or start()/stop()."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backlog: int = 4096,
        ws_ping_interval: float | None = 20.0,
        timeout_graceful_shutdown: int = 5,
        keep_alive_s: int = 65,
    ) -> None:
        # An idle keep-alive connection is closed by the client or a load balancer in front,
        # never by us first: a server closing it (uvicorn's default is 5 s, the same as httpx's
        # pool expiry) races a client reusing it, which then reads a reset on a request that
        # was never served. 65 s outlasts the usual balancer idle timeout (60 s).
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            backlog=backlog,
            ws_ping_interval=ws_ping_interval,
            timeout_graceful_shutdown=timeout_graceful_shutdown,
            timeout_keep_alive=keep_alive_s,
            http="httptools",
            loop="none",
        )
        self._host = host
        self._port = port
        self._server = _QuietServer(self._config)
        self._task: asyncio.Task[None] | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self, *, timeout_s: float = 10.0) -> int:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
        # (proto 0 does not), and without it Nagle holds a response's second write until the
        # client's delayed ACK: about 40 ms added to every small keep-alive request.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        sock.listen(self._config.backlog)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(timeout_s):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # re-raise the startup failure
                    raise RuntimeError(f"server on {self._host}:{self.port} stopped at startup")
                await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def __aenter__(self) -> AsgiServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
