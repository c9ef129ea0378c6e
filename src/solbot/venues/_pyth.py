"""Pyth Hermes latest prices (`GET /v2/updates/price/latest`), as prices and indicative quotes.

Wire format: wire-formats.md §3. Prices are i64 strings scaled by `10**expo`; errors are plain
text (`404 Price ids not found: ...`). An oracle price is a mark, not a fill: quotes built from
it are `executable=False`, shown as a last resort and never traded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from http import HTTPStatus
from typing import Any

from solbot.domain import KNOWN_TOKENS, QuoteRequest, SwapMode, Token, VenueQuote
from solbot.errors import NoRoute, UpstreamError
from solbot.venues._http import Clock, VenueAnswer, VenueHttp, VenueSession
from solbot.venues._parse import Malformed, opt_int, req_list, req_mapping, req_str

__all__ = ["PythClient", "PythPrice"]

_BPS = 10_000
_MAX_EXPO = 64
# The public Hermes answers 429 "for the next 60 s" (docs) and sends no header saying so.
_HERMES_COOL_DOWN_S = 60.0


@dataclass(frozen=True, slots=True)
class PythPrice:
    """One feed's latest aggregate price: `price * 10**expo` USD, published at `publish_time`."""

    feed_id: str
    price: int
    conf: int
    expo: int
    publish_time: int
    slot: int | None

    @property
    def value(self) -> Fraction:
        return Fraction(self.price) * Fraction(10) ** self.expo


def _feed_key(feed_id: str) -> str:
    return feed_id.lower().removeprefix("0x")


class PythClient:
    """Oracle prices and indicative quotes. Implements QuoteSource and PriceSource.

    `tokens` maps mints to their USD feed and decimals (the known tokens by default); a mint
    outside it has no price and no route.
    """

    def __init__(
        self,
        http: VenueSession,
        base_url: str,
        *,
        tokens: Iterable[Token] = KNOWN_TOKENS,
        name: str = "pyth",
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._tokens = {t.mint: t for t in tokens if t.pyth_feed_id}
        self._venue = VenueHttp(
            http, source=name, clock=clock, default_retry_after_s=_HERMES_COOL_DOWN_S
        )

    def __repr__(self) -> str:
        return f"PythClient(name={self.name!r}, base_url={self._base_url!r})"

    async def latest(self, feed_ids: Sequence[str], timeout_s: float) -> dict[str, PythPrice]:
        """Latest price per feed id (hex, lower case, no 0x), as Hermes sends it."""
        params = [("ids[]", _feed_key(f)) for f in dict.fromkeys(feed_ids)] + [("parsed", "true")]
        response = await self._venue.send(
            "GET",
            f"{self._base_url}/v2/updates/price/latest",
            params=params,
            timeout_s=timeout_s,
        )
        if not response.is_success:
            raise self._error(response)
        body = self._venue.json(response)
        try:
            return _parse_latest(body)
        except Malformed as exc:
            raise self._venue.malformed(exc) from None

    async def prices(self, mints: Sequence[str], timeout_s: float) -> dict[str, float]:
        """USD price per known mint; mints without a feed are absent."""
        feeds = {m: self._tokens[m].pyth_feed_id for m in mints if m in self._tokens}
        if not feeds:
            return {}
        latest = await self.latest([f for f in feeds.values() if f], timeout_s)
        result: dict[str, float] = {}
        for mint, feed_id in feeds.items():
            price = latest.get(_feed_key(feed_id or ""))
            if price is not None and price.price > 0:
                result[mint] = float(price.value)
        return result

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote:
        token_in = self._tokens.get(request.input_mint)
        token_out = self._tokens.get(request.output_mint)
        if token_in is None or token_out is None:
            raise NoRoute(
                f"{self.name} has no price feed for this pair",
                source=self.name,
                venue_code="no_feed",
            )
        assert token_in.pyth_feed_id is not None and token_out.pyth_feed_id is not None
        feed_in, feed_out = _feed_key(token_in.pyth_feed_id), _feed_key(token_out.pyth_feed_id)
        response = await self._venue.send(
            "GET",
            f"{self._base_url}/v2/updates/price/latest",
            params=[("ids[]", feed_in), ("ids[]", feed_out), ("parsed", "true")],
            timeout_s=timeout_s,
        )
        if not response.is_success:
            raise self._error(response)
        body = self._venue.json(response)
        try:
            latest = _parse_latest(body)
        except Malformed as exc:
            raise self._venue.malformed(exc) from None
        price_in, price_out = latest.get(feed_in), latest.get(feed_out)
        if price_in is None or price_out is None:
            raise NoRoute(f"{self.name} sent no price for this pair", source=self.name)
        if price_in.price <= 0 or price_out.price <= 0:
            raise self._venue.malformed("a non-positive price")
        # Base units of OUT per base unit of IN, exact: USD/IN-unit over USD/OUT-unit.
        rate = (price_in.value / 10**token_in.decimals) / (price_out.value / 10**token_out.decimals)
        if request.swap_mode is SwapMode.EXACT_IN:
            in_amount = request.amount
            out_amount = int(in_amount * rate)  # floor: never promise more than the mark
            min_out = out_amount * (_BPS - request.slippage_bps) // _BPS
            max_in = in_amount
        else:
            out_amount = request.amount
            in_amount = _ceil(out_amount / rate)
            min_out = out_amount
            max_in = _ceil(in_amount * Fraction(_BPS + request.slippage_bps, _BPS))
        if out_amount == 0 or in_amount == 0:
            raise NoRoute(f"{self.name} prices this amount at zero", source=self.name)
        slots = [s for s in (price_in.slot, price_out.slot) if s is not None]
        return VenueQuote(
            source=self.name,
            input_mint=request.input_mint,
            output_mint=request.output_mint,
            in_amount=in_amount,
            out_amount=out_amount,
            min_out_amount=min_out,
            max_in_amount=max_in,
            swap_mode=request.swap_mode,
            slippage_bps=request.slippage_bps,
            price_impact_pct=None,
            route_plan=(),
            hops=0,
            context_slot=min(slots) if slots else None,
            executable=False,
            expires_at=None,
            raw=body,
        )

    def _error(self, response: VenueAnswer) -> UpstreamError:
        message = response.text.strip() or None
        if response.status_code == HTTPStatus.NOT_FOUND:
            return NoRoute(
                f"{self.name} does not know the feed: {self._venue.redact(message or '')}",
                source=self.name,
                status=response.status_code,
            )
        return self._venue.status_error(response, message)


def _ceil(value: Fraction) -> int:
    return -(-value.numerator // value.denominator)


def _parse_latest(body: Any) -> dict[str, PythPrice]:
    result: dict[str, PythPrice] = {}
    for item in req_list(req_mapping(body), "parsed"):
        entry = req_mapping(item)
        feed_id = _feed_key(req_str(entry, "id"))
        price = req_mapping(entry, "price")
        metadata = entry.get("metadata")
        result[feed_id] = PythPrice(
            feed_id=feed_id,
            price=_i64(price, "price"),
            conf=_i64(price, "conf"),
            expo=_expo(price, "expo"),
            publish_time=_i64(price, "publish_time"),
            slot=_slot(metadata),
        )
    return result


def _i64(obj: Mapping[str, Any], key: str) -> int:
    """A signed integer that Hermes sends as a string (price, conf) or a number (publish_time)."""
    value = obj.get(key)
    if isinstance(value, bool):
        raise Malformed(f"{key} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise Malformed(f"{key} is not an integer")


def _expo(obj: Mapping[str, Any], key: str) -> int:
    # Real feeds use -5 to -10; a wild exponent would make exact arithmetic explode.
    value = _i64(obj, key)
    if not -_MAX_EXPO <= value <= _MAX_EXPO:
        raise Malformed(f"{key} is out of range")
    return value


def _slot(metadata: Any) -> int | None:
    if not isinstance(metadata, Mapping):
        return None
    try:
        return opt_int(metadata, "slot")
    except Malformed:
        return None
