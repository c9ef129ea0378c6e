"""HashflowClient: RFQ on Solana, read leniently, firm quotes with an expiry."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from solbot.domain import QuoteRequest, QuoteSource, SwapBuilder, SwapMode, VenueQuote
from solbot.errors import NoRoute, RateLimited, UpstreamRejected, UpstreamUnavailable
from solbot.venues import HashflowClient

from .bodies import HASHFLOW_RFQ, SOL, USDC, USER
from .support import FakeClock, HttpFactory, json_response

BASE = "https://api.hashflow.com"
REQUEST = QuoteRequest(SOL, USDC, 1_000_000_000, user_public_key=USER)
EXPIRY = 1_718_000_030.0


def rfq_body(**quote_changes: Any) -> dict[str, Any]:
    """The RFQ answer with quotes[0] changed; a None value removes the field."""
    body: dict[str, Any] = json.loads(HASHFLOW_RFQ)
    first = body["quotes"][0]
    for key, value in quote_changes.items():
        if value is None:
            first.pop(key, None)
        else:
            first[key] = value
    return body


def answering(
    http_factory: HttpFactory,
    status: int,
    text: str,
    headers: dict[str, str] | None = None,
    clock: FakeClock | None = None,
) -> HashflowClient:
    http = http_factory(lambda request: json_response(status, text, headers))
    return HashflowClient(http, BASE, clock=clock or FakeClock())


def test_hashflow_client_satisfies_the_ports(http_factory: HttpFactory) -> None:
    """HashflowClient is a QuoteSource and a SwapBuilder named hashflow."""
    client = answering(http_factory, 200, "{}")
    ports: tuple[QuoteSource, SwapBuilder] = (client, client)
    assert all(port.name == "hashflow" for port in ports)


async def test_rfq_request_models_solana(http_factory: HttpFactory) -> None:
    """POST /taker/v3/rfq names solana chains, base=input, quote=output, the trader, and the
    bare key in Authorization."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, HASHFLOW_RFQ)

    client = HashflowClient(http_factory(handler), BASE, api_key=SecretStr("hf-cred"))
    await client.quote(REQUEST, 1.0)

    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/taker/v3/rfq")
    assert request.headers["authorization"] == "hf-cred"
    body = json.loads(request.content)
    assert body["source"] == "solbot"
    assert body["baseChain"] == body["quoteChain"] == {"chainType": "solana", "chainId": 1}
    (rfq,) = body["rfqs"]
    assert (rfq["baseToken"], rfq["quoteToken"]) == (SOL, USDC)
    assert (rfq["baseTokenAmount"], rfq["quoteTokenAmount"]) == ("1000000000", None)
    assert rfq["trader"] == rfq["effectiveTrader"] == USER


async def test_exact_out_fixes_the_quote_token_amount(http_factory: HttpFactory) -> None:
    """ExactOut asks for quoteTokenAmount and leaves baseTokenAmount open; without a user, a
    stand-in trader is named (makers want one)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, HASHFLOW_RFQ)

    request = QuoteRequest(SOL, USDC, 147_300_000, swap_mode=SwapMode.EXACT_OUT)
    quote = await HashflowClient(http_factory(handler), BASE).quote(request, 1.0)

    (rfq,) = json.loads(seen[0].content)["rfqs"]
    assert (rfq["baseTokenAmount"], rfq["quoteTokenAmount"]) == (None, "147300000")
    assert rfq["trader"] == rfq["effectiveTrader"] == "11111111111111111111111111111111"
    assert quote.swap_mode is SwapMode.EXACT_OUT


async def test_rfq_answer_is_a_firm_executable_quote(http_factory: HttpFactory) -> None:
    """The maker's amounts are firm: min out is the out, slippage 0, expiry is quoteExpiry."""
    quote = await answering(http_factory, 200, HASHFLOW_RFQ).quote(REQUEST, 1.0)

    assert quote.source == "hashflow"
    assert (quote.in_amount, quote.out_amount) == (1_000_000_000, 147_300_000)
    assert quote.min_out_amount == quote.out_amount
    assert quote.max_in_amount == quote.in_amount
    assert quote.slippage_bps == 0
    assert quote.expires_at == EXPIRY
    assert quote.executable is True
    assert quote.hops == 1
    assert quote.route_plan[0].venue == "mm-sim"
    assert quote.route_plan[0].pool == "HfPooL1111111111111111111111111111111111111"
    assert quote.raw == json.loads(HASHFLOW_RFQ)


@pytest.mark.parametrize("where", ["transaction", "quoteData.txn", "txn"])
async def test_transaction_is_found_where_the_maker_put_it(
    http_factory: HttpFactory, where: str
) -> None:
    """quotes[0].transaction, quotes[0].quoteData.txn and quotes[0].txn all carry the tx."""
    body = rfq_body(transaction=None)
    first = body["quotes"][0]
    if where == "quoteData.txn":
        first["quoteData"]["txn"] = "AQIDBA=="
    else:
        first[where] = "AQIDBA=="
    client = answering(http_factory, 200, json.dumps(body))
    quote = await client.quote(REQUEST, 1.0)
    swap = await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)

    assert quote.executable is True
    assert swap.transaction == b"\x01\x02\x03\x04"
    assert swap.expires_at == EXPIRY


async def test_answer_without_transaction_is_indicative(http_factory: HttpFactory) -> None:
    """No transaction in the answer: the quote is shown, not executable."""
    body = json.dumps(rfq_body(transaction=None))
    quote = await answering(http_factory, 200, body).quote(REQUEST, 1.0)

    assert quote.executable is False


@pytest.mark.parametrize(
    "body",
    [
        {"status": "fail", "error": {"code": 1, "message": "No maker supports this request"}},
        {"error": {"errorCode": 7, "message": "No maker supports this request", "requestId": "r"}},
        {"status": "fail", "error": {"code": 2, "message": "Below minimum amount"}},
        {"status": "success", "quotes": []},
    ],
    ids=["kyber-shape", "tycho-shape", "below-minimum", "no-quotes"],
)
async def test_no_maker_is_no_route(http_factory: HttpFactory, body: dict[str, Any]) -> None:
    """ "No maker supports this request" (either error shape) or no quotes is NoRoute."""
    with pytest.raises(NoRoute):
        await answering(http_factory, 200, json.dumps(body)).quote(REQUEST, 1.0)


async def test_no_maker_on_an_error_status_is_still_no_route(http_factory: HttpFactory) -> None:
    """The failure can come with a 4xx status; its message still decides."""
    body = '{"status":"fail","error":{"code":1,"message":"No maker supports this request"}}'
    with pytest.raises(NoRoute):
        await answering(http_factory, 400, body).quote(REQUEST, 1.0)


async def test_a_5xx_is_an_outage_whatever_its_message(http_factory: HttpFactory) -> None:
    """A 503 saying "No maker supports this request" is UpstreamUnavailable, so breakers see it."""
    body = '{"status":"fail","error":{"code":503,"message":"No maker supports this request"}}'
    with pytest.raises(UpstreamUnavailable) as caught:
        await answering(http_factory, 503, body).quote(REQUEST, 1.0)

    assert not isinstance(caught.value, RateLimited)


async def test_rate_limit_message_is_rate_limited(http_factory: HttpFactory) -> None:
    """A "Rate Limit" failure is RateLimited, with Retry-After when the venue gives one."""
    body = '{"status":"fail","error":{"code":3,"message":"Rate Limit"}}'
    client = answering(http_factory, 200, body, {"retry-after": "2"})
    with pytest.raises(RateLimited) as caught:
        await client.quote(REQUEST, 1.0)

    assert caught.value.retry_after_s == 2.0


async def test_http_429_is_rate_limited(http_factory: HttpFactory) -> None:
    """HTTP 429 is RateLimited whatever the body says."""
    with pytest.raises(RateLimited):
        await answering(http_factory, 429, "Too Many Requests").quote(REQUEST, 1.0)


async def test_volatile_markets_are_unavailable(http_factory: HttpFactory) -> None:
    """ "Markets too volatile" means try later: UpstreamUnavailable, not NoRoute."""
    body = '{"status":"fail","error":{"code":4,"message":"Markets too volatile"}}'
    with pytest.raises(UpstreamUnavailable) as caught:
        await answering(http_factory, 200, body).quote(REQUEST, 1.0)

    assert not isinstance(caught.value, RateLimited)


async def test_unknown_failure_is_rejected(http_factory: HttpFactory) -> None:
    """A failure with a message no rule knows is UpstreamRejected."""
    body = '{"status":"fail","error":{"code":9,"message":"Unsupported chain"}}'
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 200, body).quote(REQUEST, 1.0)

    assert "Unsupported chain" in str(caught.value)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_unavailable(http_factory: HttpFactory, status: int) -> None:
    """5xx without a known message is UpstreamUnavailable."""
    with pytest.raises(UpstreamUnavailable):
        await answering(http_factory, status, "upstream exploded").quote(REQUEST, 1.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"transaction": "***not base64***"},
        {"quoteData": {"baseToken": SOL}},
        {"quoteData": None},
    ],
    ids=["garbled-tx", "missing-amounts", "no-quote-data"],
)
async def test_malformed_answers_are_rejected(
    http_factory: HttpFactory, changes: dict[str, Any]
) -> None:
    """A success that breaks the shape is UpstreamRejected(MALFORMED_RESPONSE)."""
    body = json.dumps(rfq_body(**changes))
    with pytest.raises(UpstreamRejected) as caught:
        await answering(http_factory, 200, body).quote(REQUEST, 1.0)

    assert caught.value.code == "MALFORMED_RESPONSE"


async def _quote(http_factory: HttpFactory, clock: FakeClock, body: dict[str, Any]) -> VenueQuote:
    return await answering(http_factory, 200, json.dumps(body), clock=clock).quote(REQUEST, 1.0)


async def test_swap_reuses_a_fresh_quote_for_its_trader(
    http_factory: HttpFactory, clock: FakeClock
) -> None:
    """A fresh quote made for this user is swapped without asking the maker again."""
    quote = await _quote(http_factory, clock, rfq_body())
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return json_response(500, "should not be called")

    client = HashflowClient(http_factory(handler), BASE, clock=clock)
    swap = await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)

    assert calls == []
    assert swap.transaction == b"\x01\x02\x03\x04"
    assert swap.last_valid_block_height is None


@pytest.mark.parametrize("reason", ["expired", "other-trader", "no-transaction"])
async def test_swap_asks_again_when_the_quote_cannot_be_used(
    http_factory: HttpFactory, clock: FakeClock, reason: str
) -> None:
    """An expiring quote, one for another trader, or one without a tx is re-requested for the
    user, with the same fixed amount."""
    body = rfq_body()
    if reason == "no-transaction":
        body = rfq_body(transaction=None)
    if reason == "other-trader":
        body["quotes"][0]["quoteData"]["trader"] = "SomeoneElse111111111111111111111111111111111"
    quote = await _quote(http_factory, clock, body)
    if reason == "expired":
        clock.now = EXPIRY - 1.0  # inside the 2 s margin
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        fresh = rfq_body(transaction="BQYHCA==")
        fresh["quotes"][0]["quoteData"]["quoteExpiry"] = EXPIRY + 30
        return json_response(200, json.dumps(fresh))

    client = HashflowClient(http_factory(handler), BASE, clock=clock)
    swap = await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)

    (request,) = calls
    (rfq,) = json.loads(request.content)["rfqs"]
    assert rfq["trader"] == USER
    assert rfq["baseTokenAmount"] == "1000000000"
    assert swap.transaction == b"\x05\x06\x07\x08"
    assert swap.expires_at == EXPIRY + 30


async def test_swap_refuses_a_worse_requote(http_factory: HttpFactory, clock: FakeClock) -> None:
    """A re-quote paying less than the accepted quote's minimum is rejected, not traded."""
    quote = await _quote(http_factory, clock, rfq_body(transaction=None))
    worse = rfq_body()
    worse["quotes"][0]["quoteData"]["quoteTokenAmount"] = "147299999"
    client = answering(http_factory, 200, json.dumps(worse), clock=clock)
    with pytest.raises(UpstreamRejected) as caught:
        await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)

    assert caught.value.code == "REQUOTE_WORSE"


async def test_swap_without_a_transaction_on_requote_is_rejected(
    http_factory: HttpFactory, clock: FakeClock
) -> None:
    """If the maker still sends no transaction for the user, there is nothing to sign."""
    quote = await _quote(http_factory, clock, rfq_body(transaction=None))
    client = answering(http_factory, 200, json.dumps(rfq_body(transaction=None)), clock=clock)
    with pytest.raises(UpstreamRejected):
        await client.build_swap(quote, USER, priority_fee_lamports=None, timeout_s=1.0)
