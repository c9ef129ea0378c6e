"""Bad input gets mainnet's JSON-RPC error codes, never an HTTP 500 or a dead server."""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from .support import Node, b64, funded, sol_transfer, usdc_holder, usdc_transfer


async def test_malformed_json_is_a_parse_error(node: Node) -> None:
    """Unparseable JSON answers -32700 with id null."""
    response = await node.http.post(node.rpc_url, content=b'{"jsonrpc": "2.0", "id": 1,')
    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }


async def test_invalid_requests(node: Node) -> None:
    """Not an object, no jsonrpc 2.0, no method, empty batch: -32600."""
    bodies: list[Any] = [[], 5, {"id": 1, "method": "getSlot"}, {"jsonrpc": "2.0", "id": 1}]
    for body in bodies:
        response = await node.post(body)
        assert response.status_code == 200
        answer = response.json()
        assert answer["error"]["code"] == -32600, (body, answer)


async def test_unknown_method(node: Node) -> None:
    """An unknown method is -32601 with the caller's id."""
    body = await node.call("getEverything")
    assert body["error"]["code"] == -32601 and body["id"] == 1


async def test_batch_answers_each_request_in_order(node: Node) -> None:
    """A batch gets an array of answers, errors and results mixed, ids preserved."""
    response = await node.post(
        [
            {"jsonrpc": "2.0", "id": "a", "method": "getHealth"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"},
            {"jsonrpc": "2.0", "id": "c", "method": "getBalance", "params": ["zzz"]},
        ]
    )
    answers = response.json()
    assert [a["id"] for a in answers] == ["a", "b", "c"]
    assert answers[0]["result"] == "ok"
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32602


async def test_bad_params_are_invalid_params(node: Node) -> None:
    """Bad pubkeys, bad base64, bad signatures, wrong types: -32602."""
    cases: list[tuple[str, list[Any]]] = [
        ("getBalance", ["not-a-pubkey"]),
        ("getBalance", [12]),
        ("getAccountInfo", ["So11111111111111111111111111111111111111112", {"encoding": "x"}]),
        ("sendTransaction", ["%%%not base64%%%", {"encoding": "base64"}]),
        ("sendTransaction", ["0OIl", {"encoding": "base58"}]),
        ("sendTransaction", [base64.b64encode(b"\x01\x02\x03").decode(), {"encoding": "base64"}]),
        ("sendTransaction", ["A" * 5000, {"encoding": "base64"}]),
        ("simulateTransaction", [None]),
        ("getSignatureStatuses", [["not-a-signature"]]),
        ("getSignatureStatuses", [[str(Signature.default())] * 257]),
        ("getTransaction", ["xyz"]),
        ("logsSubscribe", []),
        ("getSlot", ["finalized"]),
        ("getSlot", [{"commitment": "sometime"}]),
        ("getRecentPrioritizationFees", [[str(Keypair().pubkey())] * 129]),
        ("getMinimumBalanceForRentExemption", ["165"]),
    ]
    for method, params in cases:
        body = await node.call(method, *params)
        expected = -32601 if method == "logsSubscribe" else -32602
        assert body.get("error", {}).get("code") == expected, (method, params, body)


async def test_malformed_transactions_never_crash_the_server(node: Node) -> None:
    """Random bytes and every truncation/bit flip of a valid transaction answer -32602 or a
    proper result; the node keeps serving."""
    payer = funded(node.chain)
    raw = bytes(sol_transfer(node.chain, payer, Keypair().pubkey()))
    rng = random.Random(11)
    blobs = [rng.randbytes(rng.randint(0, 1300)) for _ in range(60)]
    blobs += [raw[:cut] for cut in range(0, len(raw), 7)]
    for _ in range(60):
        flipped = bytearray(raw)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        blobs.append(bytes(flipped))
    requests = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": rng.choice(["sendTransaction", "simulateTransaction"]),
            "params": [base64.b64encode(blob).decode(), {"encoding": "base64"}],
        }
        for i, blob in enumerate(blobs)
    ]
    response = await node.post(requests)
    assert response.status_code == 200
    for answer in response.json():
        if "error" in answer:
            assert answer["error"]["code"] in (-32602, -32002, -32003), answer
    assert await node.result("getHealth") == "ok"


async def test_expired_blockhash_is_blockhash_not_found(node: Node) -> None:
    """A blockhash older than 150 blocks is refused in preflight: -32002, err BlockhashNotFound."""
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    node.ticks(150)
    still_valid = await node.call("simulateTransaction", b64(tx), {"encoding": "base64"})
    assert still_valid["result"]["value"]["err"] is None
    node.ticks(1)
    error = await node.error("sendTransaction", b64(tx), {"encoding": "base64"})
    assert error["code"] == -32002
    assert error["message"] == "Transaction simulation failed: Blockhash not found"
    assert error["data"]["err"] == "BlockhashNotFound"
    assert error["data"]["accounts"] is None and error["data"]["logs"] == []
    assert "unitsConsumed" in error["data"]
    assert node.chain.transaction(tx.signatures[0]) is None


async def test_program_failure_in_preflight(node: Node) -> None:
    """A token transfer beyond the balance: -32002 with the instruction error and its logs."""
    setup = usdc_holder(node.chain, 100)
    tx = usdc_transfer(node.chain, setup, 101)
    error = await node.error("sendTransaction", b64(tx), {"encoding": "base64"})
    assert error["code"] == -32002
    assert error["message"] == (
        "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1"
    )
    assert error["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert any("insufficient funds" in line.lower() for line in error["data"]["logs"])
    assert error["data"]["unitsConsumed"] > 0


async def test_failing_transaction_with_skip_preflight_lands_with_err_and_fee(
    node: Node,
) -> None:
    """skipPreflight: the failing transaction executes, is recorded with its err, pays its fee."""
    setup = usdc_holder(node.chain, 100)
    before = node.chain.get_balance(setup.owner.pubkey())
    tx = usdc_transfer(node.chain, setup, 101)
    signature = await node.result(
        "sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True}
    )
    statuses = await node.result("getSignatureStatuses", [signature])
    err = {"InstructionError": [0, {"Custom": 1}]}
    assert statuses["value"][0]["err"] == err
    assert statuses["value"][0]["status"] == {"Err": err}
    node.ticks(1)
    landed = await node.result("getTransaction", signature, {"commitment": "confirmed"})
    assert landed["meta"]["err"] == err and landed["meta"]["fee"] == 5000
    assert node.chain.get_balance(setup.owner.pubkey()) == before - 5000


async def test_bad_signature_is_signature_verification_failure(node: Node) -> None:
    """A transaction whose signature does not verify: -32003, even with skipPreflight."""
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    forged = VersionedTransaction.populate(tx.message, [Keypair().sign_message(b"other")])
    for skip in (False, True):
        error = await node.error(
            "sendTransaction", b64(forged), {"encoding": "base64", "skipPreflight": skip}
        )
        assert error["code"] == -32003


async def test_min_context_slot_not_reached(node: Node) -> None:
    """minContextSlot beyond the node's slot: -32016 with data.contextSlot."""
    slot = node.chain.slot
    error = await node.error("getSlot", {"commitment": "processed", "minContextSlot": slot + 5})
    assert error["code"] == -32016 and error["data"] == {"contextSlot": slot}
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    send_error = await node.error(
        "sendTransaction",
        b64(tx),
        {"encoding": "base64", "preflightCommitment": "processed", "minContextSlot": slot + 5},
    )
    assert send_error["code"] == -32016
    balance = await node.error(
        "getBalance", str(payer.pubkey()), {"commitment": "confirmed", "minContextSlot": slot}
    )
    assert balance["code"] == -32016


async def test_resending_a_landed_transaction(node: Node) -> None:
    """Preflight refuses a duplicate (AlreadyProcessed); skipPreflight answers its signature and
    it is not executed twice."""
    payer = funded(node.chain)
    to = Keypair().pubkey()
    tx = sol_transfer(node.chain, payer, to)
    signature = await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    again = await node.error("sendTransaction", b64(tx), {"encoding": "base64"})
    assert again["code"] == -32002 and again["data"]["err"] == "AlreadyProcessed"
    skipped = await node.result(
        "sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True}
    )
    assert skipped == signature
    assert node.chain.get_balance(to) == 10**9


async def test_notification_requests_get_no_answer(node: Node) -> None:
    """A request without id is a JSON-RPC notification: no answer."""
    response = await node.http.post(
        node.rpc_url, content=orjson.dumps({"jsonrpc": "2.0", "method": "getHealth"})
    )
    assert response.status_code == 200 and response.content == b""
