"""The price publisher: follows Pyth Hermes' SSE stream, falls back to polling Jupiter Price v3.

Hermes (`GET {pyth_url}/v2/updates/price/stream?ids[]=...&parsed=true`) sends `data: <json>`
events with the feeds that moved, `:` comments to keep the connection alive, `event: error` when
it has trouble, and closes after 24 h: the follower reconnects with jittered backoff and treats
a silent stream (no byte within `read_timeout_s`) as dead. While Hermes has been silent longer
than `stale_after_s`, Jupiter's Price API is polled every `poll_interval_s` instead, so prices
keep ticking through a Hermes outage. Only changed prices are published.

With Redis, only one instance publishes (a lease renewed every few seconds): every instance
would otherwise publish every price once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx
import orjson

from solbot.domain import KNOWN_TOKENS, PriceSource, Token
from solbot.ops import get_logger
from solbot.streams._hub import StreamHub

__all__ = ["PricePublisher", "format_price", "parse_hermes_event"]

_log = get_logger("solbot.streams.prices")

_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_LEASE_TTL_MS = 10_000
_LEASE_RENEW_S = 3.0
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def format_price(price: int, expo: int) -> str:
    """`price * 10**expo` as an exact decimal string (`14748000000, -8` -> `147.48`)."""
    negative = price < 0
    digits = str(abs(price))
    if expo >= 0:
        text = digits + "0" * expo
    else:
        places = -expo
        digits = digits.rjust(places + 1, "0")
        whole, fraction = digits[:-places], digits[-places:].rstrip("0")
        text = f"{whole}.{fraction}" if fraction else whole
    return f"-{text}" if negative else text


def parse_hermes_event(data: bytes | str) -> list[tuple[str, str, int | None]]:
    """The (feed id, price, slot) of each parsed feed in one Hermes price update."""
    body = orjson.loads(data)
    updates: list[tuple[str, str, int | None]] = []
    if not isinstance(body, dict):
        return updates
    for entry in body.get("parsed") or []:
        if not isinstance(entry, dict):
            continue
        price = entry.get("price")
        feed_id = entry.get("id")
        if not isinstance(price, dict) or not isinstance(feed_id, str):
            continue
        try:
            value = int(price["price"])
            expo = int(price["expo"])
        except (KeyError, TypeError, ValueError):
            continue
        if value <= 0 or not -64 <= expo <= 64:
            continue
        metadata = entry.get("metadata")
        slot = metadata.get("slot") if isinstance(metadata, dict) else None
        updates.append(
            (
                feed_id.lower().removeprefix("0x"),
                format_price(value, expo),
                slot if isinstance(slot, int) else None,
            )
        )
    return updates


async def _sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) per server-sent event; comments (`:` lines) are skipped."""
    event = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()


PriceListener = Callable[[str, str, str, int | None], Awaitable[None]]
"""Told of every price update: (mint, decimal price string, source, slot)."""


class PricePublisher:
    """Publishes `price` messages to the hub from the configured price sources.

    `async with PricePublisher(hub, http=..., pyth_url=..., fallback=jupiter):`
    """

    def __init__(
        self,
        hub: StreamHub,
        *,
        http: httpx.AsyncClient,
        pyth_url: str | None,
        fallback: PriceSource | None = None,
        tokens: Iterable[Token] = KNOWN_TOKENS,
        poll_interval_s: float = 2.0,
        stale_after_s: float = 5.0,
        read_timeout_s: float = 30.0,
        fallback_timeout_s: float = 2.0,
        redis: Any | None = None,
        redis_prefix: str = "solbot:",
        instance_id: str = "",
        listeners: Iterable[PriceListener] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub = hub
        self._listeners = list(listeners)
        self._http = http
        self._pyth_url = pyth_url.rstrip("/") if pyth_url else None
        self._fallback = fallback
        tokens = list(tokens)
        self._mints = [t.mint for t in tokens]
        self._feeds = {t.pyth_feed_id: t.mint for t in tokens if t.pyth_feed_id}
        self._poll_interval_s = poll_interval_s
        self._stale_after_s = stale_after_s
        self._read_timeout_s = read_timeout_s
        self._fallback_timeout_s = fallback_timeout_s
        self._redis = redis
        self._lease_key = f"{redis_prefix}stream:price-publisher"
        self._instance_id = instance_id or f"{random.getrandbits(64):016x}"
        self._clock = clock
        self._leading = asyncio.Event()
        self._last: dict[str, str] = {}
        self._hermes_seen_at = -1e18
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.hermes_connections = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._redis is None:
            self._leading.set()
        else:
            self._tasks.append(loop.create_task(self._hold_lease(), name="price-lease"))
        if self._pyth_url is not None and self._feeds:
            self._tasks.append(loop.create_task(self._follow_hermes(), name="price-hermes"))
        if self._fallback is not None:
            self._tasks.append(loop.create_task(self._poll_fallback(), name="price-fallback"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._redis is not None and self._leading.is_set():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._redis.register_script(
                        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                        "return redis.call('DEL', KEYS[1]) end return 0"
                    )(keys=[self._lease_key], args=[self._instance_id])

    async def __aenter__(self) -> PricePublisher:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _publish(self, mint: str, price: str, source: str, slot: int | None) -> None:
        # Listeners (the portfolio's price cache, the quotes' marks) hear every update, changed
        # or not: its arrival is what tells them the price is still current.
        for listener in self._listeners:
            await listener(mint, price, source, slot)
        if self._last.get(mint) == price:
            return
        self._last[mint] = price
        await self._hub.publish_price(mint, price, source, slot)
        self.published += 1

    # ---- Hermes SSE ---------------------------------------------------------------------------

    async def _follow_hermes(self) -> None:
        assert self._pyth_url is not None
        url = f"{self._pyth_url}/v2/updates/price/stream"
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("ids[]", feed) for feed in self._feeds
        ]
        params.append(("parsed", "true"))
        timeout = httpx.Timeout(5.0, read=self._read_timeout_s)
        failures = 0
        while True:
            await self._leading.wait()
            try:
                async with self._http.stream(
                    "GET", url, params=params, timeout=timeout
                ) as response:
                    if response.status_code != httpx.codes.OK:
                        raise httpx.HTTPStatusError(
                            f"Hermes answered {response.status_code}",
                            request=response.request,
                            response=response,
                        )
                    self.hermes_connections += 1
                    _log.info("hermes_stream_connected")
                    async for event, data in _sse_events(response):
                        failures = 0
                        if not self._leading.is_set():
                            break
                        if event == "error":
                            _log.warning("hermes_stream_error", message=data[:200])
                            continue
                        await self._on_hermes(data)
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, OSError) as exc:
                _log.warning("hermes_stream_lost", error=f"{type(exc).__name__}: {exc}"[:300])
            delay = _BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)]
            failures += 1
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter

    async def _on_hermes(self, data: str) -> None:
        try:
            updates = parse_hermes_event(data)
        except orjson.JSONDecodeError:
            _log.warning("hermes_event_malformed")
            return
        self._hermes_seen_at = self._clock()
        for feed_id, price, slot in updates:
            mint = self._feeds.get(feed_id)
            if mint is not None:
                await self._publish(mint, price, "pyth", slot)

    # ---- Jupiter fallback -----------------------------------------------------------------------

    async def _poll_fallback(self) -> None:
        assert self._fallback is not None
        while True:
            await self._leading.wait()
            if self._clock() - self._hermes_seen_at > self._stale_after_s:
                try:
                    prices: Mapping[str, float] = await self._fallback.prices(
                        self._mints, self._fallback_timeout_s
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # an outage of the fallback is logged, not fatal
                    _log.warning(
                        "price_fallback_failed", error=f"{type(exc).__name__}: {exc}"[:300]
                    )
                else:
                    for mint, value in prices.items():
                        if value > 0:
                            await self._publish(mint, repr(float(value)), "jupiter", None)
            await asyncio.sleep(self._poll_interval_s)

    # ---- one publisher across instances -------------------------------------------------------

    async def _hold_lease(self) -> None:
        redis = self._redis
        assert redis is not None
        renew = redis.register_script(_RENEW)
        while True:
            try:
                async with asyncio.timeout(2.0):
                    if self._leading.is_set():
                        held = await renew(
                            keys=[self._lease_key], args=[self._instance_id, _LEASE_TTL_MS]
                        )
                    else:
                        held = await redis.set(
                            self._lease_key, self._instance_id, nx=True, px=_LEASE_TTL_MS
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("price_lease_unavailable", error=repr(exc)[:200])
                held = False
            if held and not self._leading.is_set():
                _log.info("price_publisher_leading")
                self._leading.set()
            elif not held and self._leading.is_set():
                _log.info("price_publisher_standing_by")
                self._leading.clear()
            await asyncio.sleep(_LEASE_RENEW_S)
