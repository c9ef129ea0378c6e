"""Helpers the venue tests share: a venue answered in-process, wire answers, and a clock that
moves only when told."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import httpx

from solbot.venues import QueryParams, VenueAnswer, VenueTransportError

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
)


class HandlerSession:
    """A `VenueSession` answered by a test's handler, in-process.

    The handler sees the request as an `httpx.Request` (method, URL with its query, headers,
    body) and answers with an `httpx.Response` (possibly streamed), or raises httpx's transport
    errors to play a refused or broken connection. Like a real session it gives up with
    `TimeoutError` at the call's `timeout_s`; `timeouts_s` records each call's timeout.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.timeouts_s: list[float] = []
        self.closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams | None,
        content: bytes | None,
        headers: Mapping[str, str],
        timeout_s: float,
    ) -> VenueAnswer:
        self.timeouts_s.append(timeout_s)
        query: list[tuple[str, str | int | float | bool | None]] = list(
            params.items() if isinstance(params, Mapping) else params or []
        )
        request = httpx.Request(method, url, params=query, content=content, headers=headers)
        try:
            async with asyncio.timeout(timeout_s):
                answer = self._handler(request)
                response = await answer if inspect.isawaitable(answer) else answer
                assert isinstance(response, httpx.Response)
                body = await response.aread()
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.DecodingError as exc:
            raise VenueTransportError(type(exc).__name__, decoding=True) from None
        except httpx.TransportError as exc:
            raise VenueTransportError(type(exc).__name__) from None
        return VenueAnswer(response.status_code, response.headers, body)

    async def aclose(self) -> None:
        self.closed = True


HttpFactory = Callable[[Handler], HandlerSession]


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
