"""The node's `rpc` faults, observed from outside: lag, drops, errors, limits, latency, hangs."""

from __future__ import annotations

import time

import httpx
import pytest
from solders.keypair import Keypair

from .support import Node, b64, funded, sol_transfer


async def test_rpc_lagging_scenario_reports_an_old_tip_and_hides_new_transactions(
    node: Node,
) -> None:
    """rpc-lagging: slot, block height and context.slot are 50 behind; a transaction that
    landed after the lagging slot is invisible until the node catches up to it."""
    node.ticks(60)
    node.faults.apply_scenario("rpc-lagging")
    slot, height = node.chain.slot, node.chain.block_height
    assert await node.result("getSlot", {"commitment": "processed"}) == slot - 50
    assert await node.result("getBlockHeight", {"commitment": "processed"}) == height - 50
    latest = await node.result("getLatestBlockhash", {"commitment": "processed"})
    assert latest["context"]["slot"] == slot - 50
    assert latest["value"]["lastValidBlockHeight"] == height - 50 + 150
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    # the lagging node's preflight does not know the tip's blockhash; skipPreflight forwards it
    stale = await node.error("sendTransaction", b64(tx), {"encoding": "base64"})
    assert stale["code"] == -32002 and stale["data"]["err"] == "BlockhashNotFound"
    signature = await node.result(
        "sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True}
    )
    statuses = await node.result("getSignatureStatuses", [signature])
    assert statuses["value"] == [None] and statuses["context"]["slot"] == slot - 50
    node.ticks(51)
    assert (await node.result("getTransaction", signature, {"commitment": "confirmed"})) is not None
    statuses = await node.result("getSignatureStatuses", [signature])
    assert statuses["value"][0]["confirmationStatus"] == "confirmed"
    node.faults.apply_scenario("healthy")
    assert await node.result("getSlot", {"commitment": "processed"}) == node.chain.slot


async def test_a_node_far_behind_is_unhealthy(node: Node) -> None:
    """More than 128 slots behind, getHealth answers -32005 with numSlotsBehind."""
    node.ticks(200)
    node.faults.update({"rpc": {"lag_slots": 150}})
    error = await node.error("getHealth")
    assert error["code"] == -32005 and error["data"] == {"numSlotsBehind": 150}


async def test_dropped_transactions_are_answered_but_never_land(node: Node) -> None:
    """drop_rate 1.0: sendTransaction answers the signature; the transaction is never found."""
    node.faults.update({"rpc": {"drop_rate": 1.0}})
    payer = funded(node.chain)
    to = Keypair().pubkey()
    tx = sol_transfer(node.chain, payer, to)
    signature = await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    assert signature == str(tx.signatures[0])
    node.ticks(40)
    statuses = await node.result(
        "getSignatureStatuses", [signature], {"searchTransactionHistory": True}
    )
    assert statuses["value"] == [None]
    assert (await node.result("getTransaction", signature, {"commitment": "confirmed"})) is None
    assert node.chain.get_balance(to) == 0
    node.faults.apply_scenario("healthy")
    assert await node.result("sendTransaction", b64(tx), {"encoding": "base64"}) == signature
    assert node.chain.get_balance(to) == 10**9  # a rebroadcast lands once drops stop


async def test_stop_including_drops_every_send_but_preflight_still_checks(node: Node) -> None:
    """stop_including: sends answer signatures and never land; preflight errors still show."""
    node.faults.apply_scenario("chain-halted-inclusion")
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    signature = await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    assert node.chain.transaction(tx.signatures[0]) is None and signature
    broke = Keypair()
    unfunded = sol_transfer(node.chain, broke, Keypair().pubkey())
    error = await node.error("sendTransaction", b64(unfunded), {"encoding": "base64"})
    assert error["code"] == -32002


async def test_error_rate_answers_http_error_with_json_rpc_body(node: Node) -> None:
    """error_rate 1.0: HTTP error_status with a JSON-RPC error object."""
    node.faults.update({"rpc": {"error_rate": 1.0, "error_status": 503}})
    response = await node.post({"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
    assert response.status_code == 503
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32603


async def test_rate_limit_answers_429(node: Node) -> None:
    """rate_limit_rps: requests past the limit within a second get HTTP 429."""
    node.faults.update({"rpc": {"rate_limit_rps": 2}})
    codes = []
    for _ in range(4):
        response = await node.post({"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
        codes.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == 429
            assert "x-ratelimit-limit" in response.headers
    assert 429 in codes and codes[0] == 200


async def test_latency_delays_answers(node: Node) -> None:
    """latency_ms: every answer takes at least that long."""
    node.faults.update({"rpc": {"latency_ms": 150}})
    started = time.perf_counter()
    assert await node.result("getHealth") == "ok"
    assert time.perf_counter() - started >= 0.15


async def test_hang_never_answers(node: Node) -> None:
    """hang: the request never gets an answer; the client's own timeout ends it."""
    node.faults.update({"rpc": {"hang": True}})
    with pytest.raises(httpx.ReadTimeout):
        await node.http.post(
            node.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
            timeout=httpx.Timeout(0.3),
        )
