"""JupiterClient: Swap API v1 quote/swap and Price API v3 over the real wire shapes."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from solbot.domain import PriceSource, QuoteRequest, QuoteSource, SwapBuilder, SwapMode, VenueQuote
from solbot.errors import NoRoute, RateLimited, UpstreamRejected, UpstreamUnavailable
from solbot.venues import JupiterClient

from .bodies import (
    BONK,
    JUPITER_PRICES,
    JUPITER_QUOTE_DOCS,
    JUPITER_QUOTE_DRIFT,
    JUPITER_QUOTE_SPEC,
    JUPITER_SWAP,
    JUPITER_SWAP_SIMULATION_FAILED,
    SOL,
    USDC,
    USER,
)
from .support import FakeClock, HttpFactory, json_response

BASE = "https://api.jup.ag/swap/v1"


def sol_to_usdc(amount: int = 100_000_000, **kwargs: object) -> QuoteRequest:
    return QuoteRequest(SOL, USDC, amount, **kwargs)  # type: ignore[arg-type]


def answering(
    http_factory: HttpFactory,
    status: int,
    text: str,
    headers: dict[str, str] | None = None,
    clock: FakeClock | None = None,
) -> JupiterClient:
    http = http_factory(lambda request: json_response(status, text, headers))
    return JupiterClient(http, BASE, clock=clock or FakeClock())


def test_jupiter_client_satisfies_the_ports(http_factory: HttpFactory) -> None:
    """JupiterClient is a QuoteSource, a SwapBuilder and a PriceSource."""
    client = answering(http_factory, 200, "{}")
    ports: tuple[QuoteSource, SwapBuilder, PriceSource] = (client, client, client)
    assert all(port.name == "jupiter" for port in ports)


async def test_quote_reads_the_docs_example(http_factory: HttpFactory) -> None:
    """The get-quote.mdx example becomes a typed, executable quote with its route and slot."""
    quote = await answering(http_factory, 200, JUPITER_QUOTE_DOCS).quote(sol_to_usdc(), 1.0)

    assert quote.source == "jupiter"
    assert (quote.input_mint, quote.output_mint) == (SOL, USDC)
    assert (quote.in_amount, quote.out_amount) == (100_000_000, 16_198_753)
    assert quote.min_out_amount == 16_117_760
    assert quote.max_in_amount == 100_000_000
    assert quote.swap_mode is SwapMode.EXACT_IN
    assert quote.slippage_bps == 50
    assert quote.price_impact_pct == Decimal("0")
    assert quote.context_slot == 299_283_763
    assert quote.executable is True
    assert quote.expires_at is None
    assert quote.hops == 1
    (leg,) = quote.route_plan
    assert leg.venue == "Meteora DLMM"
    assert leg.pool == "5BKxfWMbmYBAEWvyPZS9esPducUba9GqyMjtLCfbaqyF"
    assert (leg.input_mint, leg.output_mint, leg.in_amount, leg.out_amount) == (
        SOL,
        USDC,
        100_000_000,
        16_198_753,
    )


async def test_quote_reads_the_spec_example_with_fee_fields(http_factory: HttpFactory) -> None:
    """The swap.yaml example (platformFee object, feeAmount/feeMint per leg) parses too."""
    quote = await answering(http_factory, 200, JUPITER_QUOTE_SPEC).quote(sol_to_usdc(), 1.0)

    assert quote.out_amount == 17_057_460
    assert quote.min_out_amount == 16_886_885
    assert quote.slippage_bps == 100
    assert quote.price_impact_pct == Decimal("0.0001")


async def test_quote_tolerates_schema_drift(http_factory: HttpFactory) -> None:
    """percent null, feeAmount null or absent, priceImpactPct null and unknown fields are fine."""
    quote = await answering(http_factory, 200, JUPITER_QUOTE_DRIFT).quote(
        sol_to_usdc(1_000_000_000), 1.0
    )

    assert quote.price_impact_pct is None
    assert len(quote.route_plan) == 3
    assert quote.hops == 2  # SOL->BONK split over two pools, then BONK->USDC
    assert [leg.venue for leg in quote.route_plan] == ["DynamicSwap", "Whirlpool", "Raydium CLMM"]
    assert quote.route_plan[2].input_mint == BONK


@pytest.mark.parametrize("body", [JUPITER_QUOTE_DOCS, JUPITER_QUOTE_SPEC, JUPITER_QUOTE_DRIFT])
async def test_quote_keeps_the_raw_answer_unchanged(http_factory: HttpFactory, body: str) -> None:
    """quote.raw equals the JSON Jupiter sent, every field and value included."""
    request = sol_to_usdc(int(json.loads(body)["inAmount"]))
    quote = await answering(http_factory, 200, body).quote(request, 1.0)

    assert quote.raw == json.loads(body)


async def test_quote_sends_the_request_and_the_api_key(http_factory: HttpFactory) -> None:
    """GET /quote carries mints, amount, slippage, mode, and the key in x-api-key."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, JUPITER_QUOTE_DOCS)

    client = JupiterClient(http_factory(handler), BASE + "/", api_key=SecretStr("jup-key-123"))
    await client.quote(sol_to_usdc(slippage_bps=75), 1.0)

    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/swap/v1/quote"
    assert dict(request.url.params) == {
        "inputMint": SOL,
        "outputMint": USDC,
        "amount": "100000000",
        "slippageBps": "75",
        "swapMode": "ExactIn",
    }
    assert request.headers["x-api-key"] == "jup-key-123"


async def test_quote_without_a_key_sends_no_key_header(http_factory: HttpFactory) -> None:
    """Keyless use sends no x-api-key header at all."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, JUPITER_QUOTE_DOCS)

    await JupiterClient(http_factory(handler), BASE).quote(sol_to_usdc(), 1.0)

    assert "x-api-key" not in seen[0].headers


async def test_exact_out_quote_bounds_the_input(http_factory: HttpFactory) -> None:
    """For ExactOut, otherAmountThreshold is the most the user pays; the output is exact."""
    body = json.loads(JUPITER_QUOTE_SPEC) | {
        "swapMode": "ExactOut",
        "inAmount": "100000000",
        "outAmount": "17057460",
        "otherAmountThreshold": "101000000",
    }
    quote = await answering(http_factory, 200, json.dumps(body)).quote(
        sol_to_usdc(17_057_460, swap_mode=SwapMode.EXACT_OUT), 1.0
    )

    assert quote.swap_mode is SwapMode.EXACT_OUT
    assert quote.min_out_amount == 17_057_460
    assert quote.max_in_amount == 101_000_000


@pytest.mark.parametrize(
    "error_code",
    [
        "COULD_NOT_FIND_ANY_ROUTE",
        "NO_ROUTES_FOUND",
        "TOKEN_NOT_TRADABLE",
        "MARKET_NOT_FOUND",
        "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT",
    ],
)
async def test_routing_errors_are_no_route(http_factory: HttpFactory, error_code: str) -> None:
    """A 400 with a routing errorCode means no route: do not retry, fall back."""
    body = json.dumps({"error": "Could not find any route", "errorCode": error_code})
    with pytest.raises(NoRoute) as caught:
        await answering(http_factory, 400, body).quote(sol_to_usdc(), 1.0)

    assert caught.value.source == "jupiter"
    assert caught.value.context["venue_code"] == error_code


async def test_other_bad_requests_are_rejected_not_no_route(http_factory: HttpFactory) -> None:
    """A 400 without a routing code (validation) is UpstreamRejected, not NoRoute."""
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 400, '{"error":"Invalid amount"}').quote(sol_to_usdc(), 1.0)

    assert not isinstance(caught.value, NoRoute)
    assert "Invalid amount" in str(caught.value)


async def test_rate_limit_honours_x_ratelimit_reset(http_factory: HttpFactory) -> None:
    """429 is RateLimited, retry_after_s counted from Jupiter's x-ratelimit-reset unix time."""
    clock = FakeClock(1_718_000_000.0)
    client = answering(
        http_factory,
        429,
        '{"code":429,"message":"[API Gateway] Too many requests"}',
        {"x-ratelimit-reset": "1718000012", "x-ratelimit-remaining": "-1"},
        clock,
    )
    with pytest.raises(RateLimited) as caught:
        await client.quote(sol_to_usdc(), 1.0)

    assert caught.value.retry_after_s == pytest.approx(12.0)
    assert isinstance(caught.value, UpstreamUnavailable)


async def test_rate_limit_falls_back_to_retry_after(http_factory: HttpFactory) -> None:
    """Without x-ratelimit-reset, the standard Retry-After header tells when to come back."""
    client = answering(http_factory, 429, '{"message":"Rate limit exceeded"}', {"retry-after": "3"})
    with pytest.raises(RateLimited) as caught:
        await client.quote(sol_to_usdc(), 1.0)

    assert caught.value.retry_after_s == 3.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_unavailable(http_factory: HttpFactory, status: int) -> None:
    """5xx means try elsewhere or later."""
    with pytest.raises(UpstreamUnavailable) as caught:
        await answering(http_factory, status, '{"error":"boom"}').quote(sol_to_usdc(), 1.0)

    assert caught.value.context["status"] == status
    assert not isinstance(caught.value, RateLimited)


async def test_bad_key_is_rejected_as_unauthorized(http_factory: HttpFactory) -> None:
    """401 from the gateway is UpstreamRejected with code UPSTREAM_UNAUTHORIZED."""
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 401, '{"code":401,"message":"Unauthorized"}').quote(
            sol_to_usdc(), 1.0
        )

    assert caught.value.code == "UPSTREAM_UNAUTHORIZED"


@pytest.mark.parametrize(
    "body",
    [
        "<html>bad gateway</html>",
        "[]",
        '{"inputMint":"So11111111111111111111111111111111111111112"}',
        JUPITER_QUOTE_DOCS.replace('"outAmount":"16198753"', '"outAmount":"16,198,753"', 1),
        JUPITER_QUOTE_DOCS.replace('"outAmount":"16198753"', '"outAmount":-5', 1),
        JUPITER_QUOTE_DOCS.replace('"swapMode":"ExactIn"', '"swapMode":"Sideways"'),
        JUPITER_QUOTE_DOCS.replace('"routePlan":[', '"routePlan":"none","x":['),
        JUPITER_QUOTE_DOCS.replace(f'"outputMint":"{USDC}"', f'"outputMint":"{BONK}"', 1),
    ],
    ids=["html", "list", "missing-fields", "bad-u64", "negative", "mode", "route", "other-pair"],
)
async def test_malformed_answers_are_rejected(http_factory: HttpFactory, body: str) -> None:
    """A 200 that is not JSON or breaks the schema is UpstreamRejected(MALFORMED_RESPONSE)."""
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 200, body).quote(sol_to_usdc(), 1.0)

    assert caught.value.code == "MALFORMED_RESPONSE"


async def test_zero_out_amount_is_no_route(http_factory: HttpFactory) -> None:
    """A quote that pays nothing is no route."""
    body = JUPITER_QUOTE_DOCS.replace('"outAmount":"16198753"', '"outAmount":"0"', 1)
    with pytest.raises(NoRoute):
        await answering(http_factory, 200, body).quote(sol_to_usdc(), 1.0)


async def _drift_quote(http_factory: HttpFactory) -> VenueQuote:
    client = answering(http_factory, 200, JUPITER_QUOTE_DRIFT)
    return await client.quote(sol_to_usdc(1_000_000_000), 1.0)


async def test_swap_posts_the_raw_quote_back_unchanged(http_factory: HttpFactory) -> None:
    """POST /swap carries quoteResponse exactly as /quote answered it (DynamicSwap details too)."""
    quote = await _drift_quote(http_factory)
    posted: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return json_response(200, JUPITER_SWAP)

    client = JupiterClient(http_factory(handler), BASE, api_key=SecretStr("k"))
    await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)

    (request,) = posted
    assert (request.method, request.url.path) == ("POST", "/swap/v1/swap")
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body["quoteResponse"] == json.loads(JUPITER_QUOTE_DRIFT)
    assert body["userPublicKey"] == USER
    assert body["dynamicComputeUnitLimit"] is True
    assert "prioritizationFeeLamports" not in body  # Jupiter's own default ("auto") applies


async def test_swap_sends_a_fixed_priority_fee(http_factory: HttpFactory) -> None:
    """A chosen priority fee goes as Jupiter's plain-integer lamports form."""
    quote = await _drift_quote(http_factory)
    posted: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return json_response(200, JUPITER_SWAP)

    await JupiterClient(http_factory(handler), BASE).build_swap(
        quote, USER, priority_fee_lamports=12_345, timeout_s=1.0
    )

    assert json.loads(posted[0].content)["prioritizationFeeLamports"] == 12_345


async def test_swap_reads_the_transaction_and_its_expiry(http_factory: HttpFactory) -> None:
    """The swap answer becomes transaction bytes, lastValidBlockHeight, fee and CU limit."""
    quote = await _drift_quote(http_factory)
    swap = await answering(http_factory, 200, JUPITER_SWAP).build_swap(
        quote, USER, priority_fee_lamports=None, timeout_s=1.0
    )

    assert swap.source == "jupiter"
    assert swap.transaction[:1] == b"\x01"
    assert swap.last_valid_block_height == 279_632_475
    assert swap.prioritization_fee_lamports == 9999
    assert swap.compute_unit_limit == 388_876


async def test_swap_that_fails_simulation_is_rejected(http_factory: HttpFactory) -> None:
    """A 200 /swap carrying a simulationError is UpstreamRejected(SIMULATION_FAILED)."""
    quote = await _drift_quote(http_factory)
    client = answering(http_factory, 200, JUPITER_SWAP_SIMULATION_FAILED)
    with pytest.raises(UpstreamRejected) as caught:
        await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)

    assert caught.value.code == "SIMULATION_FAILED"
    assert "0x1771" in str(caught.value)


async def test_swap_with_garbled_transaction_is_rejected(http_factory: HttpFactory) -> None:
    """A swapTransaction that is not base64 is a malformed answer."""
    quote = await _drift_quote(http_factory)
    body = JUPITER_SWAP.replace('"swapTransaction":"AQAA', '"swapTransaction":"!!AQAA')
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 200, body).build_swap(
            quote, USER, priority_fee_lamports=None, timeout_s=1.0
        )

    assert caught.value.code == "MALFORMED_RESPONSE"


async def test_swap_refuses_another_venues_quote(http_factory: HttpFactory) -> None:
    """Jupiter builds swaps only for Jupiter quotes."""
    quote = await _drift_quote(http_factory)
    foreign = dataclasses.replace(quote, source="dflow")
    with pytest.raises(ValueError, match="dflow"):
        await answering(http_factory, 200, JUPITER_SWAP).build_swap(
            foreign, USER, priority_fee_lamports=None, timeout_s=1.0
        )


async def test_prices_reads_price_v3(http_factory: HttpFactory) -> None:
    """Price v3 answers a map by mint; usdPrice is the USD price; unknown mints are absent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, JUPITER_PRICES)

    client = JupiterClient(http_factory(handler), BASE, api_key=SecretStr("k"))
    prices = await client.prices([SOL, USDC, BONK], 1.0)

    assert prices == {SOL: 147.48, USDC: 0.9999}
    assert seen[0].url.host == "api.jup.ag"
    assert seen[0].url.path == "/price/v3"
    assert seen[0].url.params["ids"] == f"{SOL},{USDC},{BONK}"
    assert seen[0].headers["x-api-key"] == "k"


async def test_prices_asks_at_most_fifty_ids_per_call(http_factory: HttpFactory) -> None:
    """More than 50 mints are split into several Price v3 calls, and answers merged."""
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["ids"].split(",")
        asked.append(ids)
        return json_response(200, json.dumps({mint: {"usdPrice": 1.5} for mint in ids}))

    mints = [f"Mint{i:040d}" for i in range(120)]
    prices = await JupiterClient(http_factory(handler), BASE).prices(mints, 1.0)

    assert sorted(len(ids) for ids in asked) == [20, 50, 50]
    assert prices == dict.fromkeys(mints, 1.5)


async def test_prices_skip_entries_without_a_usable_price(http_factory: HttpFactory) -> None:
    """A null or non-numeric usdPrice leaves that mint out instead of failing the batch."""
    body = json.dumps({SOL: {"usdPrice": None}, USDC: {"usdPrice": "1"}, BONK: {"usdPrice": 2e-5}})
    prices = await answering(http_factory, 200, body).prices([SOL, USDC, BONK], 1.0)

    assert prices == {BONK: 2e-5}


async def test_price_url_sits_beside_a_custom_swap_url(http_factory: HttpFactory) -> None:
    """A simnet base .../jupiter/swap/v1 implies the Price API at .../jupiter/price/v3."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, "{}")

    client = JupiterClient(http_factory(handler), "http://127.0.0.1:8910/jupiter/swap/v1")
    assert await client.prices([SOL], 1.0) == {}
    assert str(seen[0].url).startswith("http://127.0.0.1:8910/jupiter/price/v3?ids=")
