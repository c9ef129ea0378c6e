"""DFlowClient: imperative /quote and /swap over DFlow's OpenAPI shapes."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from solbot.domain import QuoteRequest, QuoteSource, SwapBuilder, SwapMode
from solbot.errors import NoRoute, UpstreamRejected, UpstreamUnavailable
from solbot.venues import DFlowClient

from .bodies import DFLOW_QUOTE, DFLOW_SWAP, SOL, USDC, USER
from .support import HttpFactory, json_response

BASE = "https://quote-api.dflow.net"
REQUEST = QuoteRequest(SOL, USDC, 1_000_000_000, slippage_bps=20)


def answering(http_factory: HttpFactory, status: int, text: str) -> DFlowClient:
    return DFlowClient(http_factory(lambda request: json_response(status, text)), BASE)


def test_dflow_client_satisfies_the_ports(http_factory: HttpFactory) -> None:
    """DFlowClient is a QuoteSource and a SwapBuilder named dflow."""
    client = answering(http_factory, 200, "{}")
    ports: tuple[QuoteSource, SwapBuilder] = (client, client)
    assert all(port.name == "dflow" for port in ports)


async def test_quote_reads_dflows_schema(http_factory: HttpFactory) -> None:
    """venue/marketKey legs, minOutAmount and contextSlot become a typed executable quote."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, DFLOW_QUOTE)

    client = DFlowClient(http_factory(handler), BASE, api_key=SecretStr("dflow-key"))
    quote = await client.quote(REQUEST, 1.0)

    assert quote.source == "dflow"
    assert (quote.in_amount, quote.out_amount, quote.min_out_amount) == (
        1_000_000_000,
        147_480_000,
        147_185_040,
    )
    assert quote.swap_mode is SwapMode.EXACT_IN
    assert quote.slippage_bps == 20
    assert quote.price_impact_pct == Decimal("0.0001")
    assert quote.context_slot == 348_004_023
    assert quote.executable is True
    (leg,) = quote.route_plan
    assert (leg.venue, leg.pool) == (
        "Orca Whirlpool",
        "Czfq3xZZDmsdGdUyrNLtRhGc47cXcZtLG4crryfu44zE",
    )
    assert quote.raw == json.loads(DFLOW_QUOTE)
    (request,) = seen
    assert request.url.path == "/quote"
    assert dict(request.url.params) == {
        "inputMint": SOL,
        "outputMint": USDC,
        "amount": "1000000000",
        "slippageBps": "20",
    }
    assert request.headers["x-api-key"] == "dflow-key"


async def test_quote_falls_back_to_other_amount_threshold(http_factory: HttpFactory) -> None:
    """Without minOutAmount, otherAmountThreshold (its synonym) is the minimum out."""
    body = json.loads(DFLOW_QUOTE)
    del body["minOutAmount"]
    body["otherAmountThreshold"] = "147000000"
    quote = await answering(http_factory, 200, json.dumps(body)).quote(REQUEST, 1.0)

    assert quote.min_out_amount == 147_000_000


async def test_exact_out_is_no_route_without_a_call(http_factory: HttpFactory) -> None:
    """DFlow has no ExactOut: answered NoRoute at once, the venue never called."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return json_response(200, DFLOW_QUOTE)

    exact_out = QuoteRequest(SOL, USDC, 147_480_000, swap_mode=SwapMode.EXACT_OUT)
    with pytest.raises(NoRoute):
        await DFlowClient(http_factory(handler), BASE).quote(exact_out, 1.0)
    assert calls == []


@pytest.mark.parametrize("code", ["route_not_found", "price_impact_too_high"])
async def test_route_errors_are_no_route(http_factory: HttpFactory, code: str) -> None:
    """A 400 route_not_found (or a route too costly to take) is NoRoute."""
    body = json.dumps({"code": code, "msg": "no route", "contextSlot": None, "routingSlot": None})
    with pytest.raises(NoRoute) as caught:
        await answering(http_factory, 400, body).quote(REQUEST, 1.0)

    assert caught.value.context["venue_code"] == code


async def test_other_bad_requests_are_rejected(http_factory: HttpFactory) -> None:
    """A 400 that is our mistake (invalid_slippage_bps) is UpstreamRejected, not NoRoute."""
    body = '{"code":"invalid_slippage_bps","msg":"slippage too high"}'
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 400, body).quote(REQUEST, 1.0)

    assert not isinstance(caught.value, NoRoute)
    assert caught.value.context["venue_code"] == "invalid_slippage_bps"


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "amm_map_lagging"), (503, "amm_map_not_initialized"), (500, "failed_to_compute_route")],
)
async def test_server_errors_are_unavailable(
    http_factory: HttpFactory, status: int, code: str
) -> None:
    """503 amm_map_lagging and 500 failed_to_compute_route mean try elsewhere or later."""
    body = json.dumps({"code": code, "msg": "busy"})
    with pytest.raises(UpstreamUnavailable):
        await answering(http_factory, status, body).quote(REQUEST, 1.0)


async def test_malformed_quote_is_rejected(http_factory: HttpFactory) -> None:
    """A 200 whose route plan legs lack marketKey breaks the schema: UpstreamRejected."""
    body = DFLOW_QUOTE.replace('"marketKey"', '"market"')
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 200, body).quote(REQUEST, 1.0)

    assert caught.value.code == "MALFORMED_RESPONSE"


async def test_swap_posts_the_raw_quote_and_reads_the_transaction(
    http_factory: HttpFactory,
) -> None:
    """POST /swap carries the quote as received and a fixed fee as {"lamports": n}."""
    quote = await answering(http_factory, 200, DFLOW_QUOTE).quote(REQUEST, 1.0)
    posted: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return json_response(200, DFLOW_SWAP)

    swap = await DFlowClient(http_factory(handler), BASE).build_swap(
        quote, USER, priority_fee_lamports=5000, timeout_s=1.0
    )

    body = json.loads(posted[0].content)
    assert posted[0].url.path == "/swap"
    assert body["quoteResponse"] == json.loads(DFLOW_QUOTE)
    assert body["userPublicKey"] == USER
    assert body["prioritizationFeeLamports"] == {"lamports": 5000}
    assert swap.source == "dflow"
    assert swap.transaction == b"\x01" + bytes(11)
    assert swap.last_valid_block_height == 348_004_173
    assert (swap.compute_unit_limit, swap.prioritization_fee_lamports) == (200_000, 5000)


async def test_swap_errors_map_like_quote_errors(http_factory: HttpFactory) -> None:
    """A 500 failed_to_compute_swap is UpstreamUnavailable."""
    quote = await answering(http_factory, 200, DFLOW_QUOTE).quote(REQUEST, 1.0)
    client = answering(http_factory, 500, '{"code":"failed_to_compute_swap","msg":"x"}')
    with pytest.raises(UpstreamUnavailable):
        await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)
