"""Simulated DFlow, Hashflow and Pyth Hermes over real HTTP: shapes, errors, executable swaps."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from solbot.sim.market import user_signed
from solbot.sim.venues import DFLOW_FEE_BPS, QUOTE_TTL_S

from .support import BONK, SOL, USDC, Venues

SOL_FEED = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"
USDC_FEED = "eaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a"
RFQ = "/hashflow/taker/v3/rfq"


def _rfq(trader: str, base: str, quote: str, **amounts: str) -> dict[str, Any]:
    chain = {"chainType": "solana", "chainId": 1}
    return {
        "source": "solbot-tests",
        "baseChain": chain,
        "quoteChain": chain,
        "rfqs": [{"baseToken": base, "quoteToken": quote, "trader": trader, **amounts}],
    }


# ---- DFlow ----------------------------------------------------------------------------------


async def test_dflow_quote_has_dflows_shape_and_its_own_fee(venues: Venues) -> None:
    """DFlow legs carry venue/marketKey/decimals, and price with DFlow's fee, not the pool's."""
    response = await venues.client.get(
        "/dflow/quote", params={"inputMint": SOL, "outputMint": USDC, "amount": "1000000000"}
    )
    assert response.status_code == 200
    quote = response.json()
    assert quote["minOutAmount"] == quote["otherAmountThreshold"]
    assert quote["contextSlot"] == venues.chain.slot and quote["requestId"]
    leg = quote["routePlan"][0]
    assert leg["marketKey"] in venues.market.pools
    assert leg["inputMintDecimals"] == 9 and leg["outputMintDecimals"] == 6
    route = venues.market.route_along(
        [leg["marketKey"]], SOL, 10**9, "ExactIn", fee_bps=DFLOW_FEE_BPS
    )
    assert route is not None and quote["outAmount"] == str(route.out_amount)
    assert isinstance(quote["slippageBps"], int)  # "auto" resolved by the server


async def test_dflow_errors_use_dflows_codes(venues: Venues) -> None:
    """Zero amount, same mints, unknown token, bad slippage answer DFlow's {code, msg}."""
    client = venues.client

    async def code(**params: str) -> tuple[int, str]:
        response = await client.get("/dflow/quote", params=params)
        body = response.json()
        assert set(body) >= {"code", "msg"}
        return response.status_code, body["code"]

    assert await code(inputMint=SOL, outputMint=USDC, amount="0") == (
        400,
        "requested_input_amount_is_zero",
    )
    assert await code(inputMint=SOL, outputMint=SOL, amount="9") == (
        400,
        "same_input_and_output_mint",
    )
    stranger = str(Keypair().pubkey())
    assert await code(inputMint=stranger, outputMint=USDC, amount="9") == (400, "route_not_found")
    assert await code(inputMint="nope", outputMint=USDC, amount="9") == (400, "invalid_input_mint")
    assert await code(inputMint=SOL, outputMint=USDC, amount="9", slippageBps="x") == (
        400,
        "invalid_slippage_bps",
    )


async def test_dflow_swap_lands_and_moves_the_quoted_amounts(venues: Venues) -> None:
    """DFlow quote -> swap -> sign -> send moves exactly inAmount and outAmount."""
    wallet = venues.market.demo_wallets[0]
    quote = (
        await venues.client.get(
            "/dflow/quote", params={"inputMint": USDC, "outputMint": BONK, "amount": "40000000"}
        )
    ).json()
    response = await venues.client.post(
        "/dflow/swap",
        json={
            "userPublicKey": str(wallet.pubkey),
            "quoteResponse": quote,
            "computeUnitPriceMicroLamports": 5_000,
        },
    )
    assert response.status_code == 200, response.text
    swap = response.json()
    assert swap["prioritizationType"]["computeBudget"]["microLamports"] == 5_000
    before = (venues.balance(wallet.pubkey, USDC), venues.balance(wallet.pubkey, BONK))
    venues.execute(swap["swapTransaction"], wallet)
    assert before[0] - venues.balance(wallet.pubkey, USDC) == int(quote["inAmount"])
    assert venues.balance(wallet.pubkey, BONK) - before[1] == int(quote["outAmount"])


async def test_dflow_swap_rejects_bad_requests_with_its_codes(venues: Venues) -> None:
    """A bad user key, both fee parameters, an empty route: DFlow's /swap codes."""
    quote = (
        await venues.client.get(
            "/dflow/quote", params={"inputMint": SOL, "outputMint": USDC, "amount": "1000"}
        )
    ).json()
    user = str(Keypair().pubkey())

    async def code(body: dict[str, Any]) -> str:
        response = await venues.client.post("/dflow/swap", json=body)
        assert response.status_code == 400
        result: str = response.json()["code"]
        return result

    assert await code({"userPublicKey": "bad", "quoteResponse": quote}) == "invalid_user_public_key"
    assert (
        await code(
            {
                "userPublicKey": user,
                "quoteResponse": quote,
                "computeUnitPriceMicroLamports": 1,
                "prioritizationFeeLamports": "auto",
            }
        )
        == "both_priority_fee_params_specified"
    )
    assert (
        await code({"userPublicKey": user, "quoteResponse": dict(quote, routePlan=[])})
        == "route_is_empty"
    )


# ---- Hashflow --------------------------------------------------------------------------------


async def test_hashflow_rfq_returns_a_firm_quote_with_a_ready_transaction(
    venues: Venues,
) -> None:
    """status success, quoteData with quoteExpiry, and a transaction moving exactly the amounts."""
    wallet = venues.market.demo_wallets[2]
    response = await venues.client.post(
        RFQ, json=_rfq(str(wallet.pubkey), USDC, SOL, baseTokenAmount="50000000")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["rfqId"]
    entry = body["quotes"][0]
    data = entry["quoteData"]
    assert data["baseTokenAmount"] == "50000000" and data["trader"] == str(wallet.pubkey)
    assert data["quoteExpiry"] == int(venues.clock.now) + QUOTE_TTL_S
    fair = 50 * venues.market.walk.prices[USDC] / venues.market.walk.prices[SOL] * 10**9
    assert fair * 0.99 < int(data["quoteTokenAmount"]) < fair
    usdc_before = venues.balance(wallet.pubkey, USDC)
    lamports_before = venues.balance(wallet.pubkey, SOL)
    signature = venues.execute(entry["transaction"], wallet)
    record = venues.chain.transaction(signature)
    assert record is not None
    assert usdc_before - venues.balance(wallet.pubkey, USDC) == 50_000_000
    gained = venues.balance(wallet.pubkey, SOL) - lamports_before + record.fee
    assert gained == int(data["quoteTokenAmount"])


async def test_hashflow_failures_use_the_status_envelope(venues: Venues) -> None:
    """NEWT (no maker), an EVM chain, no source, two amounts: status fail with a message."""
    user = str(Keypair().pubkey())
    newt = venues.market.newt_mint

    async def failure(body: dict[str, Any]) -> str:
        response = await venues.client.post(RFQ, json=body)
        assert response.status_code >= 400
        result = response.json()
        assert result["status"] == "fail" and isinstance(result["error"]["code"], int)
        message: str = result["error"]["message"]
        return message

    no_maker = await failure(_rfq(user, newt, USDC, baseTokenAmount="1000"))
    assert no_maker == "No maker supports this request"
    evm = _rfq(user, SOL, USDC, baseTokenAmount="1000")
    evm["baseChain"] = {"chainType": "evm", "chainId": 1}
    assert await failure(evm) == "No maker supports this request"
    assert "source" in await failure({k: v for k, v in evm.items() if k != "source"})
    both = _rfq(user, SOL, USDC, baseTokenAmount="1", quoteTokenAmount="1")
    assert "exactly one" in await failure(both)
    assert await failure(_rfq(user, SOL, USDC, baseTokenAmount=str(10**15))) == (
        "Exceeds supported amounts"
    )


# ---- Pyth Hermes -----------------------------------------------------------------------------


async def test_hermes_latest_has_string_prices_and_ids_without_0x(venues: Venues) -> None:
    """parsed[] entries: id without 0x, price/conf as strings, expo -8; 0x ids are accepted."""
    response = await venues.client.get(
        "/pyth/v2/updates/price/latest", params=[("ids[]", f"0x{SOL_FEED}"), ("ids[]", USDC_FEED)]
    )
    assert response.status_code == 200
    body = response.json()
    assert body["binary"]["encoding"] == "hex" and len(body["binary"]["data"]) == 1
    parsed = {entry["id"]: entry for entry in body["parsed"]}
    assert set(parsed) == {SOL_FEED, USDC_FEED}
    sol = parsed[SOL_FEED]
    assert isinstance(sol["price"]["price"], str) and isinstance(sol["price"]["conf"], str)
    assert sol["price"]["expo"] == -8
    usd = int(sol["price"]["price"]) * 10**-8
    assert abs(usd - venues.market.walk.prices[SOL]) < 1e-6 * usd
    assert sol["metadata"]["slot"] == venues.chain.slot


async def test_hermes_unknown_ids_are_a_plain_text_404(venues: Venues) -> None:
    """An id without a feed answers `404 Price ids not found: <id>` in plain text."""
    unknown = "ab" * 32
    response = await venues.client.get(
        "/pyth/v2/updates/price/latest", params=[("ids[]", SOL_FEED), ("ids[]", unknown)]
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"Price ids not found: {unknown}"
    ignored = await venues.client.get(
        "/pyth/v2/updates/price/latest",
        params=[("ids[]", unknown), ("ids[]", SOL_FEED), ("ignore_invalid_price_ids", "true")],
    )
    assert ignored.status_code == 200 and len(ignored.json()["parsed"]) == 1
    bad = await venues.client.get("/pyth/v2/updates/price/latest", params={"ids[]": "zz"})
    assert bad.status_code == 400


async def test_hermes_stream_sends_data_events_and_keepalive_comments(venues: Venues) -> None:
    """The SSE stream sends `data: <json>` at each price tick and `:` comments in between."""
    lines: list[str] = []

    async def ticker() -> None:
        for _ in range(3):
            await asyncio.sleep(0.05)
            venues.market.step(0.4)

    async with venues.client.stream(
        "GET", "/pyth/v2/updates/price/stream", params={"ids[]": SOL_FEED}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        task = asyncio.create_task(ticker())
        async with asyncio.timeout(5):
            async for line in response.aiter_lines():
                lines.append(line)
                if sum(x.startswith("data: ") for x in lines) >= 3 and ":" in lines:
                    break
        await task
    events = [x for x in lines if x.startswith("data: ")]
    update = httpx.Response(200, content=events[0].removeprefix("data: ")).json()
    assert update["parsed"][0]["id"] == SOL_FEED
    assert ":" in lines  # a keep-alive comment arrived once the ticks stopped


async def test_signed_transaction_from_base64_round_trips(venues: Venues) -> None:
    """A venue transaction decodes as a VersionedTransaction the wallet can sign."""
    wallet = venues.market.demo_wallets[0]
    response = await venues.client.post(
        RFQ, json=_rfq(str(wallet.pubkey), SOL, USDC, quoteTokenAmount="10000000")
    )
    entry = response.json()["quotes"][0]
    assert entry["quoteData"]["quoteTokenAmount"] == "10000000"
    tx = VersionedTransaction.from_bytes(base64.b64decode(entry["transaction"]))
    signed = user_signed(tx, wallet.keypair)
    assert signed.verify_with_results() == [True, True]
