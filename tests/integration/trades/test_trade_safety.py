"""What users entrusting keys to the bot rely on: one trade per key, clear refusals that debit
nothing, nobody else's wallets or trades, a venue's bad transaction never signed, no key in logs."""

from __future__ import annotations

import asyncio
import base64
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.keystore import Keystore, load_master_key
from solbot.sim import Simnet
from tests.integration.trades.conftest import SOL, USDC, Bot, Trader, running_bot

NOT_A_MINT = str(Keypair().pubkey())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The default SQLite ledger, or a fresh database on a real PostgreSQL."""
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


@pytest.fixture
async def any_ledger_bot(
    ledger_overrides: dict[str, Any], trade_settings: Callable[..., Any], simnet: Simnet
) -> AsyncIterator[Bot]:
    """The bot over SQLite, and over a real PostgreSQL."""
    async for running in running_bot(trade_settings(**ledger_overrides), simnet):
        yield running


async def test_concurrent_duplicates_make_one_trade_and_one_transaction(
    any_ledger_bot: Bot,
) -> None:
    """20 POSTs at once with one Idempotency-Key: one trade id for all, one signature, one swap
    on chain."""
    bot = any_ledger_bot
    trader = await bot.trader(lamports=1_000_000_000)
    body = trader.swap(SOL, USDC, 100_000_000)
    sol_before = await bot.balance(trader.wallet, SOL)

    responses = await asyncio.gather(*(trader.post_trade(body, key="same-key") for _ in range(20)))

    assert {r.status_code for r in responses} <= {200, 202}, [r.text for r in responses]
    assert [r.status_code for r in responses].count(202) == 1
    (trade_id,) = {r.json()["tradeId"] for r in responses}
    trade = await trader.settled(trade_id)
    assert trade["status"] == "confirmed", trade["failure"]
    assert len(trade["signatures"]) == 1
    listed = (await trader.client.get("/v1/trades")).json()["trades"]
    assert [t["tradeId"] for t in listed] == [trade_id]
    spent = sol_before - await bot.balance(trader.wallet, SOL)
    assert spent == 100_000_000 + int(trade["fees"]["totalLamports"]) + int(
        trade["actual"]["rentLamports"]
    )
    again = await trader.post_trade(body, key="same-key")
    assert again.status_code == 200 and again.json()["tradeId"] == trade_id
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_key_reused_with_another_request_is_refused(bot: Bot) -> None:
    """The same Idempotency-Key with a different body is a 422, and makes no second trade."""
    trader = await bot.trader(lamports=1_000_000_000)
    first = await trader.post_trade(trader.swap(SOL, USDC, 10_000_000), key="k1")
    assert first.status_code == 202
    second = await trader.post_trade(trader.swap(SOL, USDC, 20_000_000), key="k1")
    assert second.status_code == 422
    assert second.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    await trader.settled(first.json()["tradeId"])


BAD_INPUTS: list[tuple[str, Callable[[Trader], dict[str, Any]], dict[str, str], int, str]] = [
    (
        "unknown wallet",
        lambda t: t.swap(SOL, USDC, 1000) | {"wallet": NOT_A_MINT},
        {},
        404,
        "WALLET_NOT_FOUND",
    ),
    (
        "malformed wallet",
        lambda t: t.swap(SOL, USDC, 1000) | {"wallet": "nope"},
        {},
        400,
        "INVALID_WALLET",
    ),
    ("amount above balance", lambda t: t.swap(SOL, USDC, 10**15), {}, 422, "INSUFFICIENT_FUNDS"),
    ("tokens not held", lambda t: t.swap(USDC, SOL, 1_000_000), {}, 422, "INSUFFICIENT_FUNDS"),
    ("amount zero", lambda t: t.swap(SOL, USDC, 0), {}, 400, "INVALID_AMOUNT"),
    (
        "amount not digits",
        lambda t: t.swap(SOL, USDC, 1) | {"amount": "1.5"},
        {},
        400,
        "INVALID_AMOUNT",
    ),
    ("amount above u64", lambda t: t.swap(SOL, USDC, 2**64), {}, 400, "INVALID_AMOUNT"),
    ("mint not base58", lambda t: t.swap(SOL, "not-a-mint!", 1000), {}, 400, "INVALID_MINT"),
    ("address that is no mint", lambda t: t.swap(SOL, NOT_A_MINT, 1000), {}, 400, "INVALID_MINT"),
    ("same mint", lambda t: t.swap(SOL, SOL, 1000), {}, 400, "SAME_MINT"),
    (
        "slippage above 10000",
        lambda t: t.swap(SOL, USDC, 1000) | {"slippageBps": 10_001},
        {},
        400,
        "INVALID_SLIPPAGE",
    ),
    (
        "slippage negative",
        lambda t: t.swap(SOL, USDC, 1000) | {"slippageBps": -1},
        {},
        400,
        "INVALID_SLIPPAGE",
    ),
    (
        "priority fee not a number",
        lambda t: t.swap(SOL, USDC, 1000) | {"priorityFee": "fast"},
        {},
        400,
        "INVALID_PRIORITY_FEE",
    ),
    (
        "unknown quote id",
        lambda t: t.swap(SOL, USDC, 1000) | {"quoteId": "q_gone"},
        {},
        422,
        "QUOTE_NOT_FOUND",
    ),
    (
        "unknown field",
        lambda t: t.swap(SOL, USDC, 1000) | {"slippage": 50},
        {},
        400,
        "INVALID_REQUEST",
    ),
    (
        "idempotency key too long",
        lambda t: t.swap(SOL, USDC, 1000),
        {"Idempotency-Key": "k" * 129},
        400,
        "INVALID_IDEMPOTENCY_KEY",
    ),
    (
        "idempotency key empty",
        lambda t: t.swap(SOL, USDC, 1000),
        {"Idempotency-Key": ""},
        400,
        "INVALID_IDEMPOTENCY_KEY",
    ),
]


async def test_bad_input_is_a_clear_4xx_and_debits_nothing(bot: Bot) -> None:
    """Each bad request gets its 4xx and code in the error shape; no trade, no lamport moved."""
    trader = await bot.trader(lamports=500_000_000)
    sol_before = await bot.balance(trader.wallet, SOL)
    for name, body, headers, status, code in BAD_INPUTS:
        response = await trader.post_trade(body(trader), **headers)
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == code, (name, error)
        assert error["message"], name
    missing = await trader.client.post("/v1/trades", json=trader.swap(SOL, USDC, 1000))
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    not_json = await trader.client.post(
        "/v1/trades", content=b"{nope", headers={"Idempotency-Key": "x"}
    )
    assert not_json.status_code == 400
    assert (await trader.client.get("/v1/trades")).json()["trades"] == []
    assert await bot.balance(trader.wallet, SOL) == sol_before


async def test_an_expired_or_mismatched_quote_id_is_refused(bot: Bot) -> None:
    """A quoteId from GET /v1/quote trades that quote; one for another amount is a 422."""
    trader = await bot.trader(lamports=500_000_000)
    quote = await trader.client.get(
        "/v1/quote", params={"inputMint": SOL, "outputMint": USDC, "amount": "10000000"}
    )
    assert quote.status_code == 200, quote.text
    quote_id = quote.json()["quoteId"]
    mismatch = await trader.post_trade(trader.swap(SOL, USDC, 20_000_000, quoteId=quote_id))
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "QUOTE_MISMATCH"
    accepted = await trader.post_trade(trader.swap(SOL, USDC, 10_000_000, quoteId=quote_id))
    assert accepted.status_code == 202, accepted.text
    trade = await trader.settled(accepted.json()["tradeId"])
    assert trade["status"] == "confirmed"
    assert trade["quoted"]["outAmount"] == quote.json()["outAmount"]


async def test_nobody_reaches_another_users_wallet_or_trade(bot: Bot) -> None:
    """Bob cannot trade from, list or read Alice's wallet and trades: 404 as if absent; no token
    is 401."""
    alice = await bot.trader(lamports=500_000_000)
    bob = await bot.trader(lamports=500_000_000)
    accepted = await alice.post_trade(alice.swap(SOL, USDC, 10_000_000))
    trade_id = accepted.json()["tradeId"]

    from_alice = await bob.post_trade(alice.swap(SOL, USDC, 10_000_000))
    assert from_alice.status_code == 404
    assert from_alice.json()["error"]["code"] == "WALLET_NOT_FOUND"
    read = await bob.client.get(f"/v1/trades/{trade_id}")
    assert read.status_code == 404
    assert read.json()["error"]["code"] == "TRADE_NOT_FOUND"
    absent = await bob.client.get(f"/v1/trades/{uuid.uuid4()}")
    assert absent.json() == read.json() | {
        "error": read.json()["error"] | {"message": absent.json()["error"]["message"]}
    }
    listed = await bob.client.get("/v1/trades", params={"wallet": alice.wallet})
    assert listed.status_code == 404
    assert (await bob.client.get("/v1/trades")).json()["trades"] == []
    anonymous = await bot.http.get(f"{bot.url}/v1/trades/{trade_id}")
    assert anonymous.status_code == 401
    assert (await alice.settled(trade_id))["status"] == "confirmed"


async def test_a_venue_transaction_paying_a_stranger_is_refused_before_signing(bot: Bot) -> None:
    """Under malicious_tx the trade fails as rejected_by_check, unsigned; balances unchanged."""
    trader = await bot.trader(lamports=500_000_000)
    sol_before = await bot.balance(trader.wallet, SOL)
    await bot.set_faults({"scenario": "malicious_tx"})

    accepted = await trader.post_trade(trader.swap(SOL, USDC, 50_000_000))
    trade = await trader.settled(accepted.json()["tradeId"])

    assert trade["status"] == "failed"
    assert trade["failure"]["code"] == "REJECTED_BY_CHECK"
    assert "transfer_to_stranger" in trade["failure"]["message"]
    assert trade["signature"] is None and trade["signatures"] == []
    events = await bot.services.ledger.trades.events(trade["tradeId"])
    assert "signed" not in [str(e.to_status) for e in events]
    assert await bot.balance(trader.wallet, SOL) == sol_before
    assert await bot.balance(trader.wallet, USDC) == 0


async def test_settled_trades_are_published_for_their_wallet(bot: Bot) -> None:
    """A confirmed and a failed trade each reach listeners once, tagged wallet:<pubkey>."""
    received: list[tuple[str, Mapping[str, Any]]] = []
    stop = bot.services.trade_events.subscribe(lambda tag, trade: received.append((tag, trade)))
    trader = await bot.trader(lamports=500_000_000)
    confirmed = await trader.post_trade(trader.swap(SOL, USDC, 10_000_000))
    await trader.settled(confirmed.json()["tradeId"])
    await bot.set_faults({"scenario": "malicious_tx"})
    failed = await trader.post_trade(trader.swap(SOL, USDC, 10_000_000))
    await trader.settled(failed.json()["tradeId"])
    await bot.services.trade_runner.idle()
    stop()

    assert [(tag, t["tradeId"], t["status"]) for tag, t in received] == [
        (f"wallet:{trader.wallet}", confirmed.json()["tradeId"], "confirmed"),
        (f"wallet:{trader.wallet}", failed.json()["tradeId"], "failed"),
    ]


async def test_no_key_material_in_any_log_line_of_a_full_trade(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    """Debug logs of a whole trade (accept, sign, land, fill) hold the wallet's secret key in no
    encoding: base58, base64, hex, byte list."""
    settings = bot.services.settings
    keypair = Keypair()
    master = load_master_key(
        settings.master_key, simnet_key_path=Path(settings.simnet_data_dir) / "master.key"
    )
    user, token = await bot.services.auth.create_user(f"keyed-{uuid.uuid4().hex[:8]}")
    await bot.services.ledger.wallets.insert_wallet(user.id, Keystore(master).seal(bytes(keypair)))
    trader = Trader(token, str(keypair.pubkey()), bot.http)
    await bot.airdrop(trader.wallet, 500_000_000)
    headers = {"Authorization": f"Bearer {token}"}

    from solbot.ops import configure_logging

    configure_logging("debug")
    try:
        response = await bot.http.post(
            f"{bot.url}/v1/trades",
            json=trader.swap(SOL, USDC, 10_000_000),
            headers={**headers, "Idempotency-Key": "log-check"},
        )
        trade_id = response.json()["tradeId"]
        async with asyncio.timeout(30):
            while (await bot.http.get(f"{bot.url}/v1/trades/{trade_id}", headers=headers)).json()[
                "status"
            ] not in ("confirmed", "failed", "expired"):
                await asyncio.sleep(0.05)
        await bot.services.trade_runner.idle()
    finally:
        structlog.reset_defaults()
    captured = capsys.readouterr()
    output = captured.out + captured.err
    print(f"{len(output.splitlines())} log lines captured", file=sys.stderr)  # noqa: T201

    assert "trade_settled" in output and "trade_sent" in output
    secret = bytes(keypair)
    base58 = {secret: str(Signature.from_bytes(secret)), secret[:32]: str(Pubkey(secret[:32]))}
    for material in (secret, secret[:32]):
        for encoded in (
            base58[material],
            base64.b64encode(material).decode(),
            base64.urlsafe_b64encode(material).decode(),
            material.hex(),
            material.hex().upper(),
            ", ".join(str(b) for b in material[:16]),
        ):
            assert encoded not in output
    assert token not in output
