"""PythClient: Hermes latest prices, and indicative (never executable) oracle quotes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from solbot.domain import PriceSource, QuoteRequest, QuoteSource, SwapMode
from solbot.errors import NoRoute, RateLimited, UpstreamRejected, UpstreamUnavailable
from solbot.venues import PythClient

from .bodies import SOL, SOL_FEED, USDC, USDC_FEED
from .support import HttpFactory, json_response

BASE = "https://hermes.pyth.network"
UNKNOWN_MINT = "Unknown111111111111111111111111111111111111"


def entry(feed_id: str, price: str, expo: int = -8, slot: int | None = 85480034) -> dict[str, Any]:
    """One `parsed[]` item as Hermes sends it: string price/conf, number expo, id without 0x."""
    detail = {"price": price, "conf": "509500001", "expo": expo, "publish_time": 1717632000}
    return {
        "id": feed_id,
        "price": detail,
        "ema_price": detail,
        "metadata": {"slot": slot, "proof_available_time": 1717632000, "prev_publish_time": None},
    }


def hermes_body(*entries: dict[str, Any]) -> str:
    return json.dumps(
        {"binary": {"encoding": "hex", "data": ["504e4155010000"]}, "parsed": list(entries)}
    )


SOL_USDC = hermes_body(entry(SOL_FEED, "14748000000"), entry(USDC_FEED, "99990000", slot=85480030))


def answering(
    http_factory: HttpFactory, status: int, text: str, headers: dict[str, str] | None = None
) -> PythClient:
    http = http_factory(lambda request: json_response(status, text, headers))
    return PythClient(http, BASE)


def test_pyth_client_satisfies_the_ports(http_factory: HttpFactory) -> None:
    """PythClient is a QuoteSource and a PriceSource named pyth (never a SwapBuilder)."""
    client = answering(http_factory, 200, "{}")
    ports: tuple[QuoteSource, PriceSource] = (client, client)
    assert all(port.name == "pyth" for port in ports)
    assert not hasattr(client, "build_swap")


async def test_quote_converts_through_both_usd_prices(http_factory: HttpFactory) -> None:
    """1 SOL at $147.48 buys floor(147.48 / 0.9999) USDC in base units; never executable."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, SOL_USDC)

    quote = await PythClient(http_factory(handler), BASE).quote(
        QuoteRequest(SOL, USDC, 1_000_000_000, slippage_bps=50), 1.0
    )

    assert quote.source == "pyth"
    assert quote.executable is False
    assert (quote.in_amount, quote.out_amount) == (1_000_000_000, 147_494_749)
    assert quote.min_out_amount == 146_757_275
    assert quote.max_in_amount == 1_000_000_000
    assert quote.context_slot == 85_480_030  # the older of the two prices
    assert quote.route_plan == ()
    assert quote.raw == json.loads(SOL_USDC)
    (request,) = seen
    assert request.url.path == "/v2/updates/price/latest"
    assert request.url.params.get_list("ids[]") == [SOL_FEED, USDC_FEED]


async def test_exact_out_quote_rounds_the_input_up(http_factory: HttpFactory) -> None:
    """ExactOut: the input is the ceiling of the mark, and the slippage bounds the input."""
    quote = await answering(http_factory, 200, SOL_USDC).quote(
        QuoteRequest(SOL, USDC, 147_000_000, slippage_bps=50, swap_mode=SwapMode.EXACT_OUT), 1.0
    )

    assert quote.out_amount == quote.min_out_amount == 147_000_000
    assert quote.in_amount == 996_645_647
    assert quote.max_in_amount == 1_001_628_876


async def test_unknown_mint_is_no_route_without_a_call(http_factory: HttpFactory) -> None:
    """A mint without a Pyth feed has no oracle route; Hermes is not asked."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return json_response(200, SOL_USDC)

    with pytest.raises(NoRoute):
        await PythClient(http_factory(handler), BASE).quote(
            QuoteRequest(UNKNOWN_MINT, USDC, 5), 1.0
        )
    assert calls == []


async def test_feed_unknown_to_hermes_is_no_route(http_factory: HttpFactory) -> None:
    """Hermes' plain-text 404 "Price ids not found" is NoRoute."""
    http = http_factory(lambda r: httpx.Response(404, text=f"Price ids not found: {SOL_FEED}"))
    with pytest.raises(NoRoute) as caught:
        await PythClient(http, BASE).quote(QuoteRequest(SOL, USDC, 10**9), 1.0)

    assert "Price ids not found" in str(caught.value)


async def test_feed_missing_from_the_answer_is_no_route(http_factory: HttpFactory) -> None:
    """An answer that lacks one side's price is NoRoute."""
    body = hermes_body(entry(SOL_FEED, "14748000000"))
    with pytest.raises(NoRoute):
        await answering(http_factory, 200, body).quote(QuoteRequest(SOL, USDC, 10**9), 1.0)


@pytest.mark.parametrize(
    "body",
    [
        hermes_body(entry(SOL_FEED, "0"), entry(USDC_FEED, "99990000")),
        hermes_body(entry(SOL_FEED, "abc"), entry(USDC_FEED, "99990000")),
        hermes_body(entry(SOL_FEED, "1", expo=-100_000), entry(USDC_FEED, "99990000")),
        '{"binary":{}}',
        "not json",
    ],
    ids=["zero-price", "bad-price", "wild-expo", "no-parsed", "not-json"],
)
async def test_malformed_prices_are_rejected(http_factory: HttpFactory, body: str) -> None:
    """A price that is not a positive integer string, or a broken answer, is UpstreamRejected."""
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 200, body).quote(QuoteRequest(SOL, USDC, 10**9), 1.0)

    assert caught.value.code == "MALFORMED_RESPONSE"


async def test_rate_limit_assumes_hermes_cool_down(http_factory: HttpFactory) -> None:
    """Hermes' 429 says no time: retry_after_s is its documented 60 s cool-down."""
    with pytest.raises(RateLimited) as caught:
        await answering(http_factory, 429, "Too Many Requests").quote(
            QuoteRequest(SOL, USDC, 10**9), 1.0
        )

    assert caught.value.retry_after_s == 60.0


async def test_server_error_is_unavailable(http_factory: HttpFactory) -> None:
    """Hermes' plain-text 500 is UpstreamUnavailable."""
    with pytest.raises(UpstreamUnavailable):
        await answering(http_factory, 500, "RPC error").quote(QuoteRequest(SOL, USDC, 10**9), 1.0)


async def test_prices_by_mint(http_factory: HttpFactory) -> None:
    """USD prices by mint from their feeds; mints without a feed are absent; 0x ids accepted."""
    body = hermes_body(entry("0x" + SOL_FEED.upper(), "14748000000"), entry(USDC_FEED, "99990000"))
    prices = await answering(http_factory, 200, body).prices([SOL, USDC, UNKNOWN_MINT], 1.0)

    assert prices == {SOL: pytest.approx(147.48), USDC: pytest.approx(0.9999)}


async def test_latest_reads_every_parsed_field(http_factory: HttpFactory) -> None:
    """latest() gives price, conf, expo, publish_time and slot per feed id."""
    latest = await answering(http_factory, 200, SOL_USDC).latest([SOL_FEED, USDC_FEED], 1.0)

    sol = latest[SOL_FEED]
    assert (sol.price, sol.conf, sol.expo, sol.publish_time, sol.slot) == (
        14_748_000_000,
        509_500_001,
        -8,
        1_717_632_000,
        85_480_034,
    )
