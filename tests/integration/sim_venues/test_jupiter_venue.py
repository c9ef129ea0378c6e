"""Simulated Jupiter (Swap v1 + Price v3) over real HTTP: shapes, errors, swaps that land."""

from __future__ import annotations

from typing import Any

from solders.keypair import Keypair

from .support import SOL, USDC, Venues

QUOTE = "/jupiter/swap/v1/quote"
SWAP = "/jupiter/swap/v1/swap"


async def _quote(venues: Venues, **params: Any) -> dict[str, Any]:
    response = await venues.client.get(QUOTE, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_quote_has_jupiters_shape_with_pool_addresses_and_slot(venues: Venues) -> None:
    """A quote carries routePlan/swapInfo with ammKey = a pool address, and contextSlot."""
    response = await venues.client.get(
        QUOTE, params={"inputMint": SOL, "outputMint": USDC, "amount": "1000000000"}
    )
    assert response.status_code == 200
    assert response.headers["x-api-gateway-request-id"]
    quote = response.json()
    assert quote["inAmount"] == "1000000000" and quote["swapMode"] == "ExactIn"
    assert quote["slippageBps"] == 50
    out = int(quote["outAmount"])
    assert int(quote["otherAmountThreshold"]) == out * 9_950 // 10_000
    assert quote["contextSlot"] == venues.chain.slot
    assert isinstance(quote["timeTaken"], float)
    float(quote["priceImpactPct"])
    step = quote["routePlan"][0]
    assert step["percent"] == 100 and step["bps"] == 10_000
    assert step["swapInfo"]["ammKey"] in venues.market.pools
    assert step["swapInfo"]["label"]
    assert 100 * 10**6 < out < 200 * 10**6  # about 150 USDC for 1 SOL


async def test_quote_errors_use_jupiters_error_codes(venues: Venues) -> None:
    """Same mint, unknown token, unfillable size, bad amount: 400 with Jupiter's bodies."""
    client = venues.client
    same = await client.get(QUOTE, params={"inputMint": SOL, "outputMint": SOL, "amount": "5"})
    assert same.status_code == 400
    assert same.json()["errorCode"] == "CIRCULAR_ARBITRAGE_IS_DISABLED"
    stranger = str(Keypair().pubkey())
    unknown = await client.get(
        QUOTE, params={"inputMint": stranger, "outputMint": USDC, "amount": "5"}
    )
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error": f"The token {stranger} is not tradable",
        "errorCode": "TOKEN_NOT_TRADABLE",
    }
    huge = await client.get(
        QUOTE,
        params={
            "inputMint": USDC,
            "outputMint": SOL,
            "amount": str(10**17),
            "swapMode": "ExactOut",
        },
    )
    assert huge.status_code == 400 and huge.json()["errorCode"] == "COULD_NOT_FIND_ANY_ROUTE"
    bad = await client.get(QUOTE, params={"inputMint": SOL, "outputMint": USDC, "amount": "1.5"})
    assert bad.status_code == 400 and "amount" in bad.json()["error"]
    missing = await client.get(QUOTE, params={"inputMint": SOL})
    assert missing.status_code == 400 and "error" in missing.json()


async def test_swap_builds_a_transaction_that_moves_the_quoted_amounts(venues: Venues) -> None:
    """quote -> swap -> sign -> send: the user gets exactly outAmount, pays exactly inAmount."""
    wallet = venues.market.demo_wallets[0]
    quote = await _quote(venues, inputMint=USDC, outputMint=SOL, amount="25000000")
    response = await venues.client.post(
        SWAP,
        json={
            "userPublicKey": str(wallet.pubkey),
            "quoteResponse": quote,
            "prioritizationFeeLamports": {
                "priorityLevelWithMaxLamports": {"priorityLevel": "high", "maxLamports": 50_000}
            },
        },
    )
    assert response.status_code == 200, response.text
    swap = response.json()
    assert swap["lastValidBlockHeight"] > venues.chain.block_height
    assert swap["computeUnitLimit"] > 0 and swap["prioritizationFeeLamports"] <= 50_000
    assert "computeBudget" in swap["prioritizationType"]
    assert swap["simulationError"] is None
    usdc_before = venues.balance(wallet.pubkey, USDC)
    lamports_before = venues.balance(wallet.pubkey, SOL)
    signature = venues.execute(swap["swapTransaction"], wallet)
    record = venues.chain.transaction(signature)
    assert record is not None and record.err is None
    assert usdc_before - venues.balance(wallet.pubkey, USDC) == int(quote["inAmount"])
    received = venues.balance(wallet.pubkey, SOL) - lamports_before + record.fee
    assert received == int(quote["outAmount"])


async def test_swap_refuses_when_the_market_moved_past_the_slippage(venues: Venues) -> None:
    """A quote the market has since moved past is refused, naming slippage; no tx is built."""
    wallet = venues.market.demo_wallets[0]
    quote = await _quote(
        venues, inputMint=SOL, outputMint=USDC, amount="1000000000", slippageBps="10"
    )
    whale = venues.market.traders[0]
    dump = await _quote(venues, inputMint=SOL, outputMint=USDC, amount=str(3_000 * 10**9))
    built = await venues.client.post(
        SWAP, json={"userPublicKey": str(whale.pubkey), "quoteResponse": dump}
    )
    venues.execute(built.json()["swapTransaction"], whale)
    response = await venues.client.post(
        SWAP, json={"userPublicKey": str(wallet.pubkey), "quoteResponse": quote}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == "SLIPPAGE_TOLERANCE_EXCEEDED"
    assert "lippage" in body["error"]


async def test_swap_rejects_bad_input_with_a_400(venues: Venues) -> None:
    """Bad JSON, a bad user key, a missing quote or a tampered route answer 400, never 500."""
    quote = await _quote(venues, inputMint=SOL, outputMint=USDC, amount="1000000")
    client = venues.client
    not_json = await client.post(SWAP, content=b"{nope")
    assert not_json.status_code == 400 and "error" in not_json.json()
    bad_user = await client.post(SWAP, json={"userPublicKey": "xyz", "quoteResponse": quote})
    assert bad_user.status_code == 400 and "userPublicKey" in bad_user.json()["error"]
    no_quote = await client.post(SWAP, json={"userPublicKey": str(Keypair().pubkey())})
    assert no_quote.status_code == 400 and "quoteResponse" in no_quote.json()["error"]
    tampered = dict(quote, outAmount=str(int(quote["outAmount"]) * 2))
    wrong = await client.post(
        SWAP, json={"userPublicKey": str(Keypair().pubkey()), "quoteResponse": tampered}
    )
    assert wrong.status_code == 400 and wrong.json()["errorCode"]


async def test_swap_reports_a_simulation_error_when_the_user_cannot_pay(venues: Venues) -> None:
    """A 200 /swap can carry a simulationError: here the user holds no USDC."""
    quote = await _quote(venues, inputMint=USDC, outputMint=SOL, amount="1000000")
    response = await venues.client.post(
        SWAP, json={"userPublicKey": str(Keypair().pubkey()), "quoteResponse": quote}
    )
    assert response.status_code == 200
    assert response.json()["simulationError"]["errorCode"] == "INSUFFICIENT_FUNDS"


async def test_exact_out_quote_and_swap_deliver_the_exact_output(venues: Venues) -> None:
    """swapMode=ExactOut: outAmount is the asked amount and the swap pays exactly it."""
    wallet = venues.market.demo_wallets[1]
    quote = await _quote(
        venues, inputMint=SOL, outputMint=USDC, amount="7000000", swapMode="ExactOut"
    )
    assert quote["outAmount"] == "7000000"
    assert int(quote["otherAmountThreshold"]) >= int(quote["inAmount"])
    response = await venues.client.post(
        SWAP, json={"userPublicKey": str(wallet.pubkey), "quoteResponse": quote}
    )
    before = venues.balance(wallet.pubkey, USDC)
    venues.execute(response.json()["swapTransaction"], wallet)
    assert venues.balance(wallet.pubkey, USDC) - before == 7_000_000


async def test_price_v3_is_keyed_by_mint_and_omits_unknown_tokens(venues: Venues) -> None:
    """Known mints (NEWT too, priced from its pool) are present; unknown mints are absent."""
    newt = venues.market.newt_mint
    stranger = str(Keypair().pubkey())
    response = await venues.client.get(
        "/jupiter/price/v3", params={"ids": f"{SOL},{USDC},{newt},{stranger}"}
    )
    assert response.status_code == 200
    prices = response.json()
    assert set(prices) == {SOL, USDC, newt}
    sol = prices[SOL]
    assert 50 < sol["usdPrice"] < 500 and sol["decimals"] == 9
    assert sol["blockId"] == venues.chain.slot and sol["liquidity"] > 1_000_000
    assert prices[newt]["usdPrice"] > 0 and prices[newt]["priceChange24h"] is not None
    missing = await venues.client.get("/jupiter/price/v3")
    assert missing.status_code == 400
