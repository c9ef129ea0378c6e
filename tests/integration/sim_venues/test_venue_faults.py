"""Faults on the simulated venues, set over /admin/faults, seen by a real HTTP client."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction

from .support import SOL, USDC, Venues

QUOTE = "/jupiter/swap/v1/quote"
SOL_USDC = {"inputMint": SOL, "outputMint": USDC, "amount": "1000000000"}
SOL_FEED = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"


async def _put(venues: Venues, body: dict[str, Any]) -> None:
    response = await venues.client.put("/admin/faults", json=body)
    assert response.status_code == 200, response.text


async def test_admin_faults_reads_and_switches_the_profile(venues: Venues) -> None:
    """GET shows the profile; PUT a scenario or per-target fields switches it."""
    current = (await venues.client.get("/admin/faults")).json()
    assert current["scenario"] == "healthy" and "jupiter-down" in current["scenarios"]
    await _put(venues, {"scenario": "jupiter-slow"})
    assert (await venues.client.get("/admin/faults")).json()["jupiter"]["latency_ms"] == 1500
    await _put(venues, {"dflow": {"error_rate": 0.5}})
    shown = (await venues.client.get("/admin/faults")).json()
    assert shown["scenario"] == "custom" and shown["dflow"]["error_rate"] == 0.5


async def test_admin_faults_rejects_bad_input_with_a_clear_400(venues: Venues) -> None:
    """Unknown scenarios, fields or non-JSON bodies answer 400 and change nothing."""
    for body in (b'{"scenario": "meteor-strike"}', b'{"jupiter": {"latency": 5}}', b"{oops"):
        response = await venues.client.put("/admin/faults", content=body)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] and error["message"]
    assert venues.faults.scenario == "healthy"


async def test_latency_fault_delays_the_answer(venues: Venues) -> None:
    """latency_ms makes the venue answer that much later, and still correctly."""
    await _put(venues, {"jupiter": {"latency_ms": 250}})
    started = time.perf_counter()
    response = await venues.client.get(QUOTE, params=SOL_USDC)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.24


async def test_jupiter_down_answers_gateway_errors(venues: Venues) -> None:
    """error_rate 1 gives Jupiter's gateway body with the configured status."""
    await _put(venues, {"scenario": "jupiter-down"})
    response = await venues.client.get(QUOTE, params=SOL_USDC)
    assert response.status_code == 503
    assert response.json() == {"code": 503, "message": "[API Gateway] Service Unavailable"}
    assert response.headers["x-api-gateway-request-id"]
    dflow = await venues.client.get("/dflow/quote", params=SOL_USDC)
    assert dflow.status_code == 200  # only Jupiter is down


async def test_rate_limited_jupiter_answers_429_with_ratelimit_headers(venues: Venues) -> None:
    """Past rate_limit_rps in one second: 429 with the gateway body and x-ratelimit-* headers."""
    await _put(venues, {"scenario": "jupiter-rate-limited"})
    statuses = []
    last: httpx.Response | None = None
    for _ in range(8):
        last = await venues.client.get(QUOTE, params=SOL_USDC)
        statuses.append(last.status_code)
        if last.status_code == 200:
            assert last.headers["x-ratelimit-remaining"]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    assert last is not None
    assert last.json() == {"code": 429, "message": "[API Gateway] Too many requests"}
    assert int(last.headers["x-ratelimit-reset"]) == int(venues.clock.now) + 1
    assert int(last.headers["x-ratelimit-remaining"]) < 0
    venues.clock.now += 1.0  # the next second opens a new window
    assert (await venues.client.get(QUOTE, params=SOL_USDC)).status_code == 200


async def test_hanging_venue_is_seen_as_a_client_timeout(venues: Venues) -> None:
    """hang: the venue never answers; the client's own timeout fires."""
    await _put(venues, {"scenario": "jupiter-hang"})
    with pytest.raises(httpx.ReadTimeout):
        await venues.client.get(QUOTE, params=SOL_USDC, timeout=0.3)


async def test_illiquid_jupiter_routes_through_more_than_four_thin_hops(venues: Venues) -> None:
    """jupiter-illiquid: the quote goes through >4 thin pools and gives less; swap still lands."""
    healthy = (await venues.client.get(QUOTE, params=SOL_USDC)).json()
    await _put(venues, {"scenario": "jupiter-illiquid"})
    quote = (await venues.client.get(QUOTE, params=SOL_USDC)).json()
    assert len(quote["routePlan"]) > 4
    assert int(quote["outAmount"]) < int(healthy["outAmount"])
    assert float(quote["priceImpactPct"]) > float(healthy["priceImpactPct"])
    wallet = venues.market.demo_wallets[0]
    swap = await venues.client.post(
        "/jupiter/swap/v1/swap", json={"userPublicKey": str(wallet.pubkey), "quoteResponse": quote}
    )
    assert swap.status_code == 200, swap.text
    before = venues.balance(wallet.pubkey, USDC)
    venues.execute(swap.json()["swapTransaction"], wallet)
    assert venues.balance(wallet.pubkey, USDC) - before == int(quote["outAmount"])


async def test_all_down_fails_every_venue_in_its_own_format(venues: Venues) -> None:
    """all-down: Jupiter gateway JSON, DFlow amm_map_lagging, Hashflow fail, Hermes plain text."""
    await _put(venues, {"scenario": "all-down"})
    client = venues.client
    jupiter = await client.get(QUOTE, params=SOL_USDC)
    assert jupiter.status_code == 503 and jupiter.json()["code"] == 503
    dflow = await client.get("/dflow/quote", params=SOL_USDC)
    assert dflow.status_code == 503 and dflow.json()["code"] == "amm_map_lagging"
    hashflow = await client.post("/hashflow/taker/v3/rfq", json={})
    assert hashflow.status_code == 503 and hashflow.json()["status"] == "fail"
    pyth = await client.get("/pyth/v2/updates/price/latest", params={"ids[]": SOL_FEED})
    assert pyth.status_code == 503 and pyth.headers["content-type"].startswith("text/plain")


async def test_volatile_scenario_shakes_the_market_and_the_makers(venues: Venues) -> None:
    """volatile: the walk's volatility rises and a failing RFQ maker says markets are volatile."""
    await _put(venues, {"scenario": "volatile"})
    assert venues.faults.get("market").volatility > 1
    for _ in range(5):
        response = await venues.client.get(QUOTE, params=SOL_USDC)
        assert response.status_code in (200, 503)
    await _put(venues, {"market": {"volatility": 8.0}, "hashflow": {"error_rate": 1.0}})
    response = await venues.client.post("/hashflow/taker/v3/rfq", json={})
    assert response.json()["error"]["message"] == "Markets too volatile"


async def test_malicious_tx_fault_adds_a_transfer_to_a_stranger(venues: Venues) -> None:
    """malicious_tx: the swap transaction also moves the user's SOL to a stranger."""
    quote = (await venues.client.get(QUOTE, params=SOL_USDC)).json()
    wallet = venues.market.demo_wallets[0]
    body = {"userPublicKey": str(wallet.pubkey), "quoteResponse": quote}

    async def destinations() -> set[str]:
        swap = (await venues.client.post("/jupiter/swap/v1/swap", json=body)).json()
        tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
        keys = list(tx.message.account_keys)
        return {
            str(keys[ix.accounts[1]])
            for ix in tx.message.instructions
            if keys[ix.program_id_index] == SYSTEM_PROGRAM_ID
        }

    stranger = str(venues.market.stranger)
    assert stranger not in await destinations()
    await _put(venues, {"scenario": "malicious_tx"})
    assert stranger in await destinations()
