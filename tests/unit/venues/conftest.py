"""Venue adapters over httpx's own transport seam: `httpx.MockTransport` answers in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from solbot.config import load_settings
from solbot.venues import build_http_client

from .support import FakeClock, Handler, HttpFactory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http_factory() -> AsyncIterator[HttpFactory]:
    """Shared clients as production builds them, each answered by a test's handler."""
    clients: list[httpx.AsyncClient] = []
    settings = load_settings()

    def make(handler: Handler) -> httpx.AsyncClient:
        client = build_http_client(settings, transport=httpx.MockTransport(handler))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
