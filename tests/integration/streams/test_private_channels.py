"""Balances and trades: only after `auth` with a real API token, only the user's own wallets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from solbot.auth import AuthService
from solbot.keystore import SealedKey
from solbot.ledger import Ledger
from tests.integration.streams.conftest import (
    SOL,
    USDC,
    GatewayFactory,
    recv_json,
    send_json,
    subscribe,
)

ALICE_WALLET = "A1iceWa11et1111111111111111111111111111111"
ALICE_SECOND = "A1iceSec0nd111111111111111111111111111111"
BOB_WALLET = "BobWa11et111111111111111111111111111111111"


@dataclass
class Users:
    ledger: Ledger
    auth: AuthService
    alice_token: str
    bob_token: str


@pytest.fixture
async def users(tmp_path: Path) -> AsyncIterator[Users]:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}") as ledger:
        auth = AuthService(ledger.users)
        alice, alice_token = await auth.create_user("alice")
        bob, bob_token = await auth.create_user("bob")
        for user_id, wallet in (
            (alice.id, ALICE_WALLET),
            (alice.id, ALICE_SECOND),
            (bob.id, BOB_WALLET),
        ):
            await ledger.wallets.insert_wallet(user_id, SealedKey(wallet, b"\x00" * 92, 1))
        yield Users(ledger, auth, alice_token, bob_token)


async def test_private_channels_need_auth_first(gateway: GatewayFactory, users: Users) -> None:
    """Subscribing to balances before `auth` is refused with AUTH_REQUIRED."""
    async with gateway(auth=users.auth, wallets=users.ledger.wallets) as gw, connect(gw.url) as ws:
        await send_json(ws, {"op": "subscribe", "channel": "trades", "id": 4})
        error = await recv_json(ws)
        assert (error["type"], error["code"], error["id"]) == ("error", "AUTH_REQUIRED", 4)


async def test_a_bad_token_is_refused(gateway: GatewayFactory, users: Users) -> None:
    """A malformed, unknown or revoked token gets UNAUTHORIZED and no private access."""
    async with gateway(auth=users.auth, wallets=users.ledger.wallets) as gw, connect(gw.url) as ws:
        for token in ("nope", "sbt_" + "x" * 43):
            await send_json(ws, {"op": "auth", "token": token, "id": 1})
            error = await recv_json(ws)
            assert (error["code"], error["id"]) == ("UNAUTHORIZED", 1)
            assert token not in error["message"]
        alice = await users.auth.authenticate(users.alice_token)
        await users.auth.revoke_tokens(alice.id)
        await send_json(ws, {"op": "auth", "token": users.alice_token, "id": 2})
        assert (await recv_json(ws))["code"] == "UNAUTHORIZED"
        await send_json(ws, {"op": "subscribe", "channel": "balances", "id": 3})
        assert (await recv_json(ws))["code"] == "AUTH_REQUIRED"


async def test_a_user_sees_only_their_own_wallets(gateway: GatewayFactory, users: Users) -> None:
    """After auth, balances of every own wallet arrive; another user's wallet is FORBIDDEN and
    its updates never reach this client."""
    async with gateway(auth=users.auth, wallets=users.ledger.wallets) as gw, connect(gw.url) as ws:
        await gw.hub.publish_balance(ALICE_WALLET, SOL, 5_000_000_000, 10)  # before: a snapshot
        await send_json(ws, {"op": "auth", "token": users.alice_token, "id": 1})
        authenticated = await recv_json(ws)
        assert authenticated["type"] == "authenticated" and authenticated["id"] == 1
        await send_json(
            ws, {"op": "subscribe", "channel": "balances", "wallets": [BOB_WALLET], "id": 2}
        )
        assert (await recv_json(ws))["code"] == "FORBIDDEN"
        ack = await subscribe(ws, "balances", None, op_id=3)  # every wallet of alice
        assert sorted(ack["wallets"]) == sorted([ALICE_WALLET, ALICE_SECOND])
        snapshot = await recv_json(ws)
        assert snapshot == {
            "type": "balance",
            "wallet": ALICE_WALLET,
            "mint": SOL,
            "amount": "5000000000",
            "slot": 10,
            "ts": snapshot["ts"],
            "seq": 1,
        }
        await gw.hub.publish_balance(BOB_WALLET, SOL, 1, 11)
        await gw.hub.publish_balance(ALICE_SECOND, USDC, 18_446_744_073_709_551_615, 12)
        update = await recv_json(ws)
        assert (update["wallet"], update["amount"]) == (ALICE_SECOND, "18446744073709551615")


async def test_trades_reach_their_owner(gateway: GatewayFactory, users: Users) -> None:
    """A trade event published for a wallet reaches the subscribed owner with seq per wallet."""
    async with gateway(auth=users.auth, wallets=users.ledger.wallets) as gw:
        async with connect(gw.url) as alice, connect(gw.url) as bob:
            for ws, token in ((alice, users.alice_token), (bob, users.bob_token)):
                await send_json(ws, {"op": "auth", "token": token, "id": 1})
                assert (await recv_json(ws))["type"] == "authenticated"
                await subscribe(ws, "trades", None, op_id=2)
            trade = {"id": "t-1", "status": "confirmed", "inAmount": "1000", "outAmount": "7"}
            await gw.hub.publish_trade(ALICE_WALLET, trade)
            await gw.hub.publish_trade(BOB_WALLET, {"id": "t-2", "status": "sent"})
            event = await recv_json(alice)
            other = await recv_json(bob)
        assert (event["type"], event["wallet"], event["trade"], event["seq"]) == (
            "trade",
            ALICE_WALLET,
            trade,
            1,
        )
        assert other["trade"]["id"] == "t-2"
        assert gw.metric("solbot_ws_messages_sent_total", channel="trades") == 2


async def test_without_an_authenticator_private_channels_are_unavailable(
    gateway: GatewayFactory,
) -> None:
    """A gateway built without auth refuses `auth` rather than letting anyone in."""
    async with gateway() as gw, connect(gw.url) as ws:
        await send_json(ws, {"op": "auth", "token": "sbt_" + "a" * 43, "id": 1})
        assert (await recv_json(ws))["code"] == "UNAUTHORIZED"
