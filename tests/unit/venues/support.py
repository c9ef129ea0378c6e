"""Helpers the venue tests share: wire answers and a clock that moves only when told."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import httpx

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
)
HttpFactory = Callable[[Handler], httpx.AsyncClient]


def json_response(
    status: int, text: str, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """An answer whose body is exactly `text`, as a venue would put it on the wire."""
    return httpx.Response(
        status,
        content=text.encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


class FakeClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self, now: float = 1_718_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
