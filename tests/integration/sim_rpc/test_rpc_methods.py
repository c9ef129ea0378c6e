"""The simnet node answers each JSON-RPC method in mainnet's shape (solders' parsers agree)."""

from __future__ import annotations

import base64

import orjson
import pytest
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetAccountInfoJsonParsedResp,
    GetAccountInfoResp,
    GetBalanceResp,
    GetEpochInfoResp,
    GetLatestBlockhashResp,
    GetMultipleAccountsResp,
    GetRecentPrioritizationFeesResp,
    GetSignatureStatusesResp,
    GetTokenAccountBalanceResp,
    GetTokenAccountsByOwnerJsonParsedResp,
    GetTokenAccountsByOwnerResp,
    GetTransactionResp,
    GetVersionResp,
    SimulateTransactionResp,
)
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from solbot.sim.chain._spl import set_compute_unit_limit, set_compute_unit_price
from solbot.sim.rpc._encoding import b58encode

from .support import (
    Node,
    b64,
    funded,
    signed,
    sol_transfer,
    solders_parse,
    usdc_holder,
    usdc_transfer,
)

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


async def test_cluster_methods_answer_like_a_validator(node: Node) -> None:
    """getHealth, getVersion, getIdentity, getGenesisHash, getEpochInfo have mainnet's shapes."""
    assert await node.result("getHealth") == "ok"
    GetVersionResp.from_json(orjson.dumps(await node.call("getVersion")).decode())
    identity = await node.result("getIdentity")
    Pubkey.from_string(identity["identity"])
    assert len(await node.result("getGenesisHash")) >= 32
    epoch = await node.call("getEpochInfo", {"commitment": "processed"})
    parsed = solders_parse(GetEpochInfoResp, epoch)
    assert parsed.value.absolute_slot == node.chain.slot
    assert parsed.value.slots_in_epoch == 432_000


async def test_slot_and_block_height_follow_commitment(node: Node) -> None:
    """processed is the tip, confirmed one slot behind, finalized 32 behind (the default)."""
    node.ticks(40)
    slot, height = node.chain.slot, node.chain.block_height
    assert await node.result("getSlot", {"commitment": "processed"}) == slot
    assert await node.result("getSlot", {"commitment": "confirmed"}) == slot - 1
    assert await node.result("getSlot") == slot - 32
    assert await node.result("getBlockHeight", {"commitment": "processed"}) == height
    assert await node.result("getBlockHeight") == height - 32


async def test_latest_blockhash_is_valid_for_150_more_blocks(node: Node) -> None:
    """getLatestBlockhash: context {slot, apiVersion}; lastValidBlockHeight = height + 150."""
    node.ticks(3)
    body = await node.call("getLatestBlockhash", {"commitment": "processed"})
    parsed = solders_parse(GetLatestBlockhashResp, body)
    blockhash, last_valid = node.chain.latest_blockhash()
    assert parsed.value.blockhash == blockhash
    assert parsed.value.last_valid_block_height == node.chain.block_height + 150 == last_valid
    assert body["result"]["context"]["slot"] == node.chain.slot
    assert isinstance(body["result"]["context"]["apiVersion"], str)
    valid = await node.result("isBlockhashValid", str(blockhash), {"commitment": "processed"})
    assert valid["value"] is True
    unknown = await node.result("isBlockhashValid", str(Keypair().pubkey()))
    assert unknown["value"] is False


async def test_balance_and_system_account_info(node: Node) -> None:
    """getBalance answers lamports in context; getAccountInfo base64/base58; null when absent."""
    owner = funded(node.chain, 3 * 10**9)
    body = await node.call("getBalance", str(owner.pubkey()))
    assert solders_parse(GetBalanceResp, body).value == 3 * 10**9
    info = await node.call("getAccountInfo", str(owner.pubkey()), {"encoding": "base64"})
    account = solders_parse(GetAccountInfoResp, info).value
    assert account is not None and account.lamports == 3 * 10**9
    assert info["result"]["value"]["data"] == ["", "base64"]
    assert info["result"]["value"]["space"] == 0
    b58 = await node.result("getAccountInfo", str(owner.pubkey()), {"encoding": "base58"})
    assert b58["value"]["data"] == ["", "base58"]
    missing = await node.result("getAccountInfo", str(Keypair().pubkey()), {"encoding": "base64"})
    assert missing["value"] is None


async def test_token_account_and_mint_as_json_parsed(node: Node) -> None:
    """jsonParsed shows spl-token accounts and mints as mainnet does; base58 of 165 bytes errs."""
    setup = usdc_holder(node.chain, 1_500_000)
    body = await node.call("getAccountInfo", str(setup.source), {"encoding": "jsonParsed"})
    solders_parse(GetAccountInfoJsonParsedResp, body)
    data = body["result"]["value"]["data"]
    assert data["program"] == "spl-token" and data["space"] == 165
    info = data["parsed"]["info"]
    assert data["parsed"]["type"] == "account"
    assert info["mint"] == str(setup.mint) and info["owner"] == str(setup.owner.pubkey())
    assert info["state"] == "initialized" and info["isNative"] is False
    assert info["tokenAmount"] == {
        "amount": "1500000",
        "decimals": 6,
        "uiAmount": 1.5,
        "uiAmountString": "1.5",
    }
    mint = await node.result("getAccountInfo", str(setup.mint), {"encoding": "jsonParsed"})
    assert mint["value"]["data"]["parsed"]["type"] == "mint"
    assert mint["value"]["data"]["parsed"]["info"]["decimals"] == 6
    error = await node.error("getAccountInfo", str(setup.source), {"encoding": "base58"})
    assert error["code"] == -32602 and "128 bytes" in error["message"]
    sliced = await node.result(
        "getAccountInfo",
        str(setup.source),
        {"encoding": "base64", "dataSlice": {"offset": 0, "length": 32}},
    )
    assert base64.b64decode(sliced["value"]["data"][0]) == bytes(setup.mint)


async def test_base64_zstd_is_served_or_refused_cleanly(node: Node) -> None:
    """base64+zstd answers compressed data, or -32602 when the node has no zstd library."""
    setup = usdc_holder(node.chain)
    body = await node.call("getAccountInfo", str(setup.source), {"encoding": "base64+zstd"})
    if "error" in body:
        assert body["error"]["code"] == -32602
    else:
        assert body["result"]["value"]["data"][1] == "base64+zstd"


async def test_multiple_accounts_keep_order_with_nulls(node: Node) -> None:
    """getMultipleAccounts answers in request order with null for missing accounts."""
    owner = funded(node.chain, 10**9)
    missing = Keypair().pubkey()
    body = await node.call(
        "getMultipleAccounts", [str(owner.pubkey()), str(missing)], {"encoding": "base64"}
    )
    parsed = solders_parse(GetMultipleAccountsResp, body)
    assert parsed.value[0] is not None and parsed.value[0].lamports == 10**9
    assert parsed.value[1] is None
    too_many = await node.error("getMultipleAccounts", [str(missing)] * 101)
    assert too_many["code"] == -32602


async def test_token_accounts_by_owner_by_mint_and_program(node: Node) -> None:
    """getTokenAccountsByOwner filters by {mint} or {programId}, jsonParsed or base64."""
    setup = usdc_holder(node.chain, 42)
    owner = str(setup.owner.pubkey())
    by_mint = await node.call(
        "getTokenAccountsByOwner", owner, {"mint": str(setup.mint)}, {"encoding": "jsonParsed"}
    )
    parsed = solders_parse(GetTokenAccountsByOwnerJsonParsedResp, by_mint)
    assert [str(a.pubkey) for a in parsed.value] == [str(setup.source)]
    entry = by_mint["result"]["value"][0]
    assert entry["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"] == "42"
    by_program = await node.call(
        "getTokenAccountsByOwner", owner, {"programId": TOKEN_PROGRAM}, {"encoding": "base64"}
    )
    raw = solders_parse(GetTokenAccountsByOwnerResp, by_program)
    assert len(raw.value) == 1 and raw.value[0].account.owner == Pubkey.from_string(TOKEN_PROGRAM)
    bad_program = await node.error(
        "getTokenAccountsByOwner", owner, {"programId": str(Keypair().pubkey())}
    )
    assert bad_program["code"] == -32602
    no_mint = await node.error("getTokenAccountsByOwner", owner, {"mint": str(Keypair().pubkey())})
    assert no_mint["code"] == -32602


async def test_token_account_balance(node: Node) -> None:
    """getTokenAccountBalance answers amount, decimals and UI amounts; -32602 for a non-token."""
    setup = usdc_holder(node.chain, 1_234_500)
    body = await node.call("getTokenAccountBalance", str(setup.source))
    parsed = solders_parse(GetTokenAccountBalanceResp, body)
    assert parsed.value.amount == "1234500" and parsed.value.decimals == 6
    assert body["result"]["value"]["uiAmountString"] == "1.2345"
    error = await node.error("getTokenAccountBalance", str(setup.owner.pubkey()))
    assert error["code"] == -32602


@pytest.mark.parametrize("encoding", ["base64", "base58"])
async def test_send_transaction_lands_and_status_advances(node: Node, encoding: str) -> None:
    """A sent transfer lands at once: processed, confirmed a slot later, finalized 32 later."""
    payer = funded(node.chain)
    tx = sol_transfer(node.chain, payer, Keypair().pubkey())
    wire = b64(tx) if encoding == "base64" else b58encode(bytes(tx))
    config = {"encoding": encoding, "skipPreflight": False, "maxRetries": 0}
    if encoding == "base58":
        config.pop("encoding")  # base58 is the (deprecated) default
    signature = await node.result("sendTransaction", wire, config)
    assert signature == str(tx.signatures[0])

    async def status() -> dict[str, object]:
        body = await node.call("getSignatureStatuses", [signature, str(Signature.default())])
        parsed = solders_parse(GetSignatureStatusesResp, body)
        assert parsed.value[1] is None
        value: dict[str, object] = body["result"]["value"][0]
        return value

    first = await status()
    assert first["confirmationStatus"] == "processed" and first["err"] is None
    assert first["status"] == {"Ok": None} and first["slot"] == node.chain.slot
    node.ticks(1)
    confirmed = await status()
    assert confirmed["confirmationStatus"] == "confirmed" and confirmed["confirmations"] == 1
    node.ticks(31)
    final = await status()
    assert final["confirmationStatus"] == "finalized" and final["confirmations"] is None


async def test_get_transaction_has_meta_like_mainnet(node: Node) -> None:
    """getTransaction: meta with err, status, fee, balances, token balances, logs, CUs, version."""
    setup = usdc_holder(node.chain, 1_000_000)
    tx = usdc_transfer(node.chain, setup, 250_000)
    signature = await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    assert (await node.result("getTransaction", signature, {"commitment": "confirmed"})) is None
    node.ticks(1)
    body = await node.call(
        "getTransaction",
        signature,
        {"commitment": "confirmed", "encoding": "json", "maxSupportedTransactionVersion": 0},
    )
    solders_parse(GetTransactionResp, body)
    result = body["result"]
    assert result["version"] == "legacy" and result["slot"] == node.chain.slot - 1
    assert isinstance(result["blockTime"], int)
    meta = result["meta"]
    assert meta["err"] is None and meta["status"] == {"Ok": None} and meta["fee"] == 5000
    assert meta["innerInstructions"] == []
    assert meta["loadedAddresses"] == {"readonly": [], "writable": []}
    assert meta["computeUnitsConsumed"] > 0
    assert any("Tokenkeg" in line for line in meta["logMessages"])
    assert meta["preBalances"][0] - meta["postBalances"][0] == 5000
    pre = {b["accountIndex"]: b["uiTokenAmount"]["amount"] for b in meta["preTokenBalances"]}
    post = {b["accountIndex"]: b["uiTokenAmount"]["amount"] for b in meta["postTokenBalances"]}
    assert sorted(pre.values()) == ["0", "1000000"]
    assert sorted(post.values()) == ["250000", "750000"]
    message = result["transaction"]["message"]
    assert message["accountKeys"][0] == str(setup.owner.pubkey())
    assert result["transaction"]["signatures"] == [signature]
    as_base64 = await node.result(
        "getTransaction", signature, {"commitment": "confirmed", "encoding": "base64"}
    )
    assert "version" not in as_base64  # only with maxSupportedTransactionVersion, as mainnet
    raw = base64.b64decode(as_base64["transaction"][0])
    assert VersionedTransaction.from_bytes(raw) == tx
    assert (await node.result("getTransaction", signature)) is None  # finalized is the default
    node.ticks(31)
    assert (await node.result("getTransaction", signature))["slot"] == result["slot"]
    low = await node.error("getTransaction", signature, {"commitment": "processed"})
    assert low["code"] == -32602


async def test_v0_transaction_needs_max_supported_version(node: Node) -> None:
    """A v0 transaction is -32015 for a client that does not declare version 0."""
    payer = funded(node.chain)
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**9)
    )
    message = MessageV0.try_compile(payer.pubkey(), [ix], [], node.chain.latest_blockhash()[0])
    tx = VersionedTransaction(message, [payer])
    signature = await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    node.ticks(1)
    error = await node.error("getTransaction", signature, {"commitment": "confirmed"})
    assert error["code"] == -32015
    ok = await node.result(
        "getTransaction",
        signature,
        {"commitment": "confirmed", "maxSupportedTransactionVersion": 0},
    )
    assert ok["version"] == 0 and ok["transaction"]["message"]["addressTableLookups"] == []
    assert to_bytes_versioned(message)[0] == 0x80


async def test_simulate_transaction_unsigned_and_with_accounts(node: Node) -> None:
    """simulateTransaction runs unsigned transactions (sigVerify false), returns accounts."""
    payer = funded(node.chain)
    to = Keypair().pubkey()
    tx = sol_transfer(node.chain, payer, to, 2 * 10**9)
    unsigned = VersionedTransaction.populate(tx.message, [Signature.default()])
    body = await node.call(
        "simulateTransaction",
        b64(unsigned),
        {"encoding": "base64", "accounts": {"addresses": [str(to)], "encoding": "base64"}},
    )
    parsed = solders_parse(SimulateTransactionResp, body)
    assert parsed.value.err is None and (parsed.value.units_consumed or 0) > 0
    assert parsed.value.logs and parsed.value.accounts is not None
    assert parsed.value.accounts[0] is not None and parsed.value.accounts[0].lamports == 2 * 10**9
    assert node.chain.get_balance(to) == 0  # nothing committed
    replaced = await node.result(
        "simulateTransaction", b64(unsigned), {"encoding": "base64", "replaceRecentBlockhash": True}
    )
    blockhash, last_valid = node.chain.latest_blockhash()
    assert replaced["value"]["replacementBlockhash"] == {
        "blockhash": str(blockhash),
        "lastValidBlockHeight": last_valid,
    }
    verify = await node.error(
        "simulateTransaction", b64(unsigned), {"encoding": "base64", "sigVerify": True}
    )
    assert verify["code"] == -32003
    both = await node.error(
        "simulateTransaction",
        b64(tx),
        {"encoding": "base64", "sigVerify": True, "replaceRecentBlockhash": True},
    )
    assert both["code"] == -32602


async def test_prioritization_fees_and_fee_for_message(node: Node) -> None:
    """A landed CU price shows as that slot's fee for its writable accounts; getFeeForMessage
    charges 5000 per signature plus price x limit."""
    payer = funded(node.chain)
    to = Keypair().pubkey()
    instructions = [
        set_compute_unit_limit(10_000),
        set_compute_unit_price(50_000),
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=10**9)),
    ]
    tx = signed(node.chain, payer, instructions)
    message_b64 = base64.b64encode(to_bytes_versioned(tx.message)).decode()
    fee = await node.result("getFeeForMessage", message_b64, {"commitment": "processed"})
    assert fee["value"] == 5000 + 500
    await node.result("sendTransaction", b64(tx), {"encoding": "base64"})
    slot = node.chain.slot
    node.ticks(1)
    body = await node.call("getRecentPrioritizationFees", [str(payer.pubkey())])
    parsed = solders_parse(GetRecentPrioritizationFeesResp, body)
    fees = {entry.slot: entry.prioritization_fee for entry in parsed.value}
    assert fees[slot] == 50_000 and fees[slot + 1] == 0
    landed = await node.result("getTransaction", str(tx.signatures[0]), {"commitment": "confirmed"})
    assert landed["meta"]["fee"] == 5500


async def test_airdrop_is_a_findable_transaction(node: Node) -> None:
    """requestAirdrop answers a signature whose status and balance change can be observed."""
    to = Keypair().pubkey()
    signature = await node.result("requestAirdrop", str(to), 2 * 10**9)
    statuses = await node.result("getSignatureStatuses", [signature])
    assert statuses["value"][0]["err"] is None
    assert (await node.result("getBalance", str(to)))["value"] == 2 * 10**9
    again = await node.result("requestAirdrop", str(to), 2 * 10**9)
    assert again != signature
    assert (await node.result("getBalance", str(to)))["value"] == 4 * 10**9
    assert (await node.error("requestAirdrop", str(to), -5))["code"] == -32602


async def test_rent_exemption_minimum(node: Node) -> None:
    """getMinimumBalanceForRentExemption(165) is a token account's rent."""
    assert await node.result("getMinimumBalanceForRentExemption", 165) == 2_039_280
