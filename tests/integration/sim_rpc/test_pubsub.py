"""Solana PubSub over WebSocket: subscriptions, notification shapes, commitments, faults."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import orjson
import pytest
from solders.keypair import Keypair
from solders.rpc.responses import (
    AccountNotification,
    LogsNotification,
    SignatureNotification,
    SlotNotification,
    parse_websocket_message,
)
from websockets.asyncio.client import ClientConnection, connect

from .support import (
    Node,
    b64,
    funded,
    recv_json,
    sol_transfer,
    subscribe,
    usdc_holder,
    usdc_transfer,
)


async def _request(ws: ClientConnection, method: str, *params: Any, request_id: int = 9) -> Any:
    await ws.send(
        orjson.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        ).decode()
    )
    return await recv_json(ws)


async def _nothing_arrives(ws: ClientConnection, wait_s: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await recv_json(ws, wait_s)


def _solders_reads(message: Any, kind: type) -> None:
    parsed = parse_websocket_message(orjson.dumps(message).decode())
    assert isinstance(parsed[0], kind), parsed


async def test_slot_subscription_notifies_each_slot_without_context(node: Node) -> None:
    """slotNotification carries {parent, root, slot} and no context; unsubscribe answers true."""
    async with connect(node.ws_url) as ws:
        sub_id = await subscribe(ws, "slotSubscribe")
        node.ticks(1)
        message = await recv_json(ws)
        _solders_reads(message, SlotNotification)
        slot = node.chain.slot
        assert message == {
            "jsonrpc": "2.0",
            "method": "slotNotification",
            "params": {
                "result": {"parent": slot - 1, "root": slot - 32, "slot": slot},
                "subscription": sub_id,
            },
        }
        answer = await _request(ws, "slotUnsubscribe", sub_id)
        assert answer == {"jsonrpc": "2.0", "result": True, "id": 9}
        node.ticks(1)
        await _nothing_arrives(ws, 0.2)


async def test_signature_subscription_processed_fires_once_when_executed(node: Node) -> None:
    """processed fires as the transaction executes, then the subscription is gone (one-shot)."""
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    async with connect(node.ws_url) as ws:
        sub_id = await subscribe(
            ws, "signatureSubscribe", str(tx.signatures[0]), {"commitment": "processed"}
        )
        await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
        message = await recv_json(ws)
        _solders_reads(message, SignatureNotification)
        assert message["method"] == "signatureNotification"
        assert message["params"] == {
            "result": {"context": {"slot": node.chain.slot}, "value": {"err": None}},
            "subscription": sub_id,
        }
        gone = await _request(ws, "signatureUnsubscribe", sub_id)
        assert gone["error"]["code"] == -32602


async def test_signature_confirmed_one_slot_later_after_received(node: Node) -> None:
    """enableReceivedNotification sends receivedSignature first; confirmed comes a slot later."""
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    async with connect(node.ws_url) as ws:
        await subscribe(
            ws,
            "signatureSubscribe",
            str(tx.signatures[0]),
            {"commitment": "confirmed", "enableReceivedNotification": True},
        )
        await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
        received = await recv_json(ws)
        assert received["params"]["result"]["value"] == "receivedSignature"
        await _nothing_arrives(ws, 0.2)
        node.ticks(1)
        final = await recv_json(ws)
        assert final["params"]["result"]["value"] == {"err": None}


async def test_signature_finalized_32_slots_later_with_err(node: Node) -> None:
    """The default commitment (finalized) fires 32 slots after execution, carrying the err."""
    setup = usdc_holder(node.chain, 10)
    tx = usdc_transfer(node.chain, setup, 11)
    async with connect(node.ws_url) as ws:
        await subscribe(ws, "signatureSubscribe", str(tx.signatures[0]))
        await node.result("sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True})
        node.ticks(31)
        await _nothing_arrives(ws, 0.2)
        node.ticks(1)
        final = await recv_json(ws)
        assert final["params"]["result"]["value"] == {
            "err": {"InstructionError": [0, {"Custom": 1}]}
        }


async def test_subscribing_to_an_already_landed_signature_fires_at_once(node: Node) -> None:
    """The race: a signature that landed before the subscription notifies right after the
    subscribe answer when its commitment is reached, or later when it is reached."""
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    landed_slot = node.chain.slot
    node.ticks(2)
    async with connect(node.ws_url) as ws:
        sub_id = await subscribe(
            ws, "signatureSubscribe", str(tx.signatures[0]), {"commitment": "confirmed"}
        )
        message = await recv_json(ws)
        assert message["params"]["subscription"] == sub_id
        assert message["params"]["result"] == {
            "context": {"slot": landed_slot},
            "value": {"err": None},
        }
        await subscribe(
            ws,
            "signatureSubscribe",
            str(tx.signatures[0]),
            {"commitment": "finalized"},
            request_id=2,
        )
        await _nothing_arrives(ws, 0.2)
        node.ticks(30)
        final = await recv_json(ws)
        assert final["params"]["result"]["value"] == {"err": None}


async def test_account_subscription_on_token_account_fires_on_transfer(node: Node) -> None:
    """accountSubscribe (jsonParsed, processed) shows the new token balance after a transfer;
    a confirmed subscriber hears of it one slot later, in base64."""
    setup = usdc_holder(node.chain, 1_000_000)
    async with connect(node.ws_url) as ws:
        parsed_id = await subscribe(
            ws,
            "accountSubscribe",
            str(setup.destination),
            {"encoding": "jsonParsed", "commitment": "processed"},
        )
        raw_id = await subscribe(
            ws,
            "accountSubscribe",
            str(setup.destination),
            {"encoding": "base64", "commitment": "confirmed"},
            request_id=2,
        )
        tx = usdc_transfer(node.chain, setup, 400_000)
        await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
        message = await recv_json(ws)
        assert message["method"] == "accountNotification"
        assert message["params"]["subscription"] == parsed_id
        value = message["params"]["result"]["value"]
        assert message["params"]["result"]["context"] == {"slot": node.chain.slot}
        info = value["data"]["parsed"]["info"]
        assert info["tokenAmount"]["amount"] == "400000"
        assert value["owner"] == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        assert value["space"] == 165
        await _nothing_arrives(ws, 0.2)
        node.ticks(1)
        confirmed = await recv_json(ws)
        _solders_reads(confirmed, AccountNotification)
        assert confirmed["params"]["subscription"] == raw_id
        data = base64.b64decode(confirmed["params"]["result"]["value"]["data"][0])
        assert int.from_bytes(data[64:72], "little") == 400_000


async def test_logs_subscription_mentions_exactly_one_address(node: Node) -> None:
    """logsSubscribe {mentions:[one]} and "all" notify signature, err and logs; two addresses
    are refused."""
    payer = funded(node.chain)
    async with connect(node.ws_url) as ws:
        mention_id = await subscribe(
            ws, "logsSubscribe", {"mentions": [str(payer.pubkey())]}, {"commitment": "processed"}
        )
        all_id = await subscribe(
            ws, "logsSubscribe", "all", {"commitment": "processed"}, request_id=2
        )
        refused = await _request(
            ws, "logsSubscribe", {"mentions": [str(payer.pubkey()), str(Keypair().pubkey())]}
        )
        assert refused["error"]["code"] == -32602
        tx = sol_transfer(node.chain, payer, Keypair().pubkey())
        await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
        first, second = await recv_json(ws), await recv_json(ws)
        assert {first["params"]["subscription"], second["params"]["subscription"]} == {
            mention_id,
            all_id,
        }
        _solders_reads(first, LogsNotification)
        value = first["params"]["result"]["value"]
        assert value["signature"] == str(tx.signatures[0]) and value["err"] is None
        assert value["logs"][0].startswith("Program 11111111111111111111111111111111 invoke")
        assert (await _request(ws, "logsUnsubscribe", mention_id))["result"] is True


async def test_pubsub_stall_keeps_sockets_but_sends_nothing(node: Node) -> None:
    """pubsub-stall: subscribe calls still answer, no notification is sent; healthy resumes."""
    async with connect(node.ws_url) as ws:
        await subscribe(ws, "slotSubscribe")
        node.faults.apply_scenario("pubsub-stall")
        node.ticks(3)
        await _nothing_arrives(ws)
        payer = funded(node.chain)
        tx = sol_transfer(node.chain, payer, Keypair().pubkey())
        await subscribe(
            ws,
            "signatureSubscribe",
            str(tx.signatures[0]),
            {"commitment": "processed"},
            request_id=2,
        )
        await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
        await _nothing_arrives(ws)
        node.faults.apply_scenario("healthy")
        node.ticks(1)
        message = await recv_json(ws)
        assert message["method"] == "slotNotification"


async def test_pubsub_latency_delays_notifications(node: Node) -> None:
    """latency_ms on pubsub delays each notification by about that much."""
    node.faults.update({"pubsub": {"latency_ms": 250}})
    async with connect(node.ws_url) as ws:
        await subscribe(ws, "slotSubscribe")
        started = time.perf_counter()
        node.ticks(1)
        await recv_json(ws)
        assert time.perf_counter() - started >= 0.24


async def test_thousands_of_subscriptions_all_notified(node: Node) -> None:
    """4 connections x 500 slot subscriptions and 1,000 account subscriptions all hear a change."""
    payer = funded(node.chain)
    clients = [await connect(node.ws_url) for _ in range(4)]
    try:
        for ws in clients:
            batch = [{"jsonrpc": "2.0", "id": i, "method": "slotSubscribe"} for i in range(500)]
            await ws.send(orjson.dumps(batch).decode())
            answers = await recv_json(ws)
            assert len(answers) == 500 and all("result" in a for a in answers)
        watcher = clients[0]
        batch = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "accountSubscribe",
                "params": [str(payer.pubkey()), {"encoding": "base64", "commitment": "processed"}],
            }
            for i in range(1000)
        ]
        await watcher.send(orjson.dumps(batch).decode())
        assert len(await recv_json(watcher)) == 1000
        started = time.perf_counter()
        node.ticks(1)
        tick_s = time.perf_counter() - started
        assert tick_s < 0.5
        for ws in clients:
            for _ in range(500):
                assert (await recv_json(ws))["method"] == "slotNotification"
        tx = sol_transfer(node.chain, payer, Keypair().pubkey())
        await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
        methods = [(await recv_json(watcher))["method"] for _ in range(1000)]
        assert methods == ["accountNotification"] * 1000
    finally:
        for ws in clients:
            await ws.close()


async def test_a_client_that_never_reads_does_not_slow_the_chain(node: Node) -> None:
    """A stuck client with many subscriptions: slots keep their pace, other clients are served."""
    async with (
        connect(node.ws_url, max_queue=1, close_timeout=0.5) as stuck,
        connect(node.ws_url) as healthy,
    ):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "slotSubscribe"} for i in range(1000)]
        await stuck.send(orjson.dumps(batch).decode())
        await subscribe(healthy, "slotSubscribe")
        started = time.perf_counter()
        for _ in range(60):
            node.chain.tick()
            await asyncio.sleep(0)
        assert time.perf_counter() - started < 3.0
        for _ in range(60):
            assert (await recv_json(healthy))["method"] == "slotNotification"
        assert await node.result("getHealth") == "ok"
