"""Venue adapters over the `VenueSession` port, answered in-process by a test's handler."""

from __future__ import annotations

import pytest

from .support import FakeClock, Handler, HandlerSession, HttpFactory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def http_factory() -> HttpFactory:
    """A session per handler: what the adapter sends reaches the handler, its answer returns."""

    def make(handler: Handler) -> HandlerSession:
        return HandlerSession(handler)

    return make
