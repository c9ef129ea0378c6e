"""The composition root: Settings -> adapters -> services -> the API app.

The app's lifespan, each CLI command and the tests build the bot through here and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from solbot.api import create_app
from solbot.config import Settings
from solbot.ops import Metrics

__all__ = ["Services", "build_app", "build_services"]


@dataclass(slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def build_services(settings: Settings) -> AsyncIterator[Services]:
    """Every long-lived resource of one bot instance, closed in reverse order on exit."""
    metrics = Metrics()
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                timeout=httpx.Timeout(5.0, connect=2.0),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
            )
        )
        yield Services(settings=settings, metrics=metrics, http=http)


def build_app(services: Services) -> FastAPI:
    """The HTTP API over already-built services."""

    async def rpc_ready() -> str | None:
        response = await services.http.post(
            services.settings.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            timeout=2.0,
        )
        body = response.json()
        return None if body.get("result") == "ok" else f"rpc: {body.get('error')}"

    return create_app(metrics=services.metrics, readiness_checks={"rpc": rpc_ready})
