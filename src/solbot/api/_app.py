"""The HTTP API: one FastAPI app built from the composition root's services."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from solbot._random import token_hex
from solbot.api._errors import (
    INTERNAL_MESSAGE,
    error_body,
    error_response,
    install_error_handlers,
)
from solbot.api._json import JSONBytes
from solbot.ops import (
    BoundChildren,
    Metrics,
    get_logger,
    request_id_var,
    request_line_var,
    write_request_line,
)
from solbot.ops._logging import LINE_WRITTEN

__all__ = ["FastHandler", "FastPath", "ReadinessCheck", "RequestIdMiddleware", "create_app"]

_log = get_logger("solbot.api")

ReadinessCheck = Callable[[], Awaitable[str | None]]  # None when ready, else why not


class RequestIdMiddleware:
    """Gives each HTTP request an id (the caller's X-Request-ID or a new one), echoes it back,
    binds it to the logs, and logs one access line, which carries whatever the handler put on it
    (`solbot.ops.annotate_request_line`). Plain ASGI: no per-request task."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # By route template (not raw path) and status: bounded label sets.
        self._request_counters = BoundChildren(metrics.http_requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (
            dict(scope.get("headers") or []).get(b"x-request-id", b"").decode(errors="ignore")
        )
        request_id = incoming[:64] if incoming and incoming.isprintable() else token_hex(16)
        token = request_id_var.set(request_id)
        line: dict[str, Any] = {}
        line_token = request_line_var.set(line)
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                # How long the server held the request before answering: the deadline's witness.
                duration_ms = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={duration_ms:.1f}".encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self._request_counters(path, str(status_holder[0])).inc()
            line["method"] = scope.get("method")
            line["path"] = scope.get("path")
            line["status"] = status_holder[0]
            line["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 2)
            write_request_line(line)
            line[LINE_WRITTEN] = True
            request_line_var.reset(line_token)
            request_id_var.reset(token)


FastHandler = Callable[[Scope], Awaitable[tuple[int, bytes, list[tuple[bytes, bytes]]]]]
"""A hot GET route served without FastAPI: scope in, (status, JSON body, extra headers) out."""


@dataclass(frozen=True, slots=True)
class _FastRoute:
    path: str


class FastPath:
    """Serves a few hot GET routes straight from ASGI, in front of FastAPI.

    FastAPI's stack (its middlewares, parameter resolution, response classes) costs a few ms per
    request on this hardware; for `/v1/quote`, whose deadline and added latency are the point,
    that is most of the bot's own overhead. The route is still declared in FastAPI (OpenAPI,
    docs); requests for it are answered here. Anything else goes to FastAPI unchanged.
    """

    def __init__(self, app: ASGIApp, routes: Mapping[str, FastHandler]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if handler is None or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = _FastRoute(scope["path"])
        try:
            status, body, headers = await handler(scope)
        except Exception as exc:  # the error shape, never a bare traceback
            _log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
            status, headers = 500, []
            body = orjson.dumps(error_body("INTERNAL", INTERNAL_MESSAGE))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(
    *,
    metrics: Metrics,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    routers: list[Any] | None = None,
    fast_routes: Mapping[str, FastHandler] | None = None,
    title: str = "retail-sol-bot",
) -> ASGIApp:
    """The API: FastAPI for every route, hot routes served ahead of it, request ids around all."""
    app = FastAPI(title=title, version="0.1.0", default_response_class=JSONBytes)
    install_error_handlers(app)
    checks = readiness_checks or {}

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        """200 while the process lives."""
        return JSONBytes({"status": "ok"})

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        """200 when every dependency answers, else 503 naming the ones that do not."""
        failing: dict[str, str] = {}
        for name, check in checks.items():
            try:
                problem = await check()
            except Exception as exc:  # a readiness probe reports, never raises
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                failing[name] = problem
        if failing:
            return error_response(
                503, "NOT_READY", f"not ready: {', '.join(sorted(failing))}", failing
            )
        return JSONBytes({"status": "ready", "checks": sorted(checks)})

    @app.get("/metrics", tags=["ops"])
    async def metrics_endpoint(_request: Request) -> Response:
        """Prometheus text exposition."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    for router in routers or []:
        app.include_router(router)
    served: ASGIApp = FastPath(app, fast_routes) if fast_routes else app
    return RequestIdMiddleware(served, metrics)
