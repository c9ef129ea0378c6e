"""`solbot serve` killed with SIGKILL between send and confirmation, restarted on the same
ledger: it settles the trade so that the ledger and the chain agree."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from solbot.auth import AuthService
from solbot.ledger import Ledger
from solbot.rpc import RpcClient, decode_token_account
from tests.conftest import SimnetProcess

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


class Serve:
    """One `solbot serve` process on an ephemeral port, its output kept."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "solbot", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        self.url = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            found = re.search(r"serving (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
            if not line and self.process.poll() is not None:
                break
        if not self.url:
            self.process.kill()
            raise RuntimeError(f"solbot serve did not start: {log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
        self.log.close()


async def _balance(rpc: RpcClient, wallet: str, mint: str) -> int:
    if mint == SOL:
        return await rpc.get_balance(wallet)
    total = 0
    for state in (await rpc.get_token_accounts_by_owner(wallet, mint=mint)).values():
        token = decode_token_account(state)
        assert token is not None
        total += token.amount
    return total


@pytest.mark.timeout(120)
async def test_a_trade_killed_between_send_and_confirm_is_settled_after_restart(
    simnet_process: SimnetProcess, tmp_path: Path
) -> None:
    """Sends are dropped so the trade sits in `sent`; the bot is SIGKILLed there; the network
    heals; the restarted bot re-sends the same signed bytes, the trade confirms once, and its
    amounts and fees equal the wallet's balance changes."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    env = {
        **os.environ,
        **{f"SOLBOT_{k.upper()}": v for k, v in simnet_process.settings_overrides().items()},
        "SOLBOT_DATABASE_URL": database_url,
        "SOLBOT_SIMNET": "true",
        "SOLBOT_STREAM_PORT": "0",
        "SOLBOT_SIMNET_DATA_DIR": str(tmp_path / "bot"),
        "SOLBOT_TRADE_REBROADCAST_MS": "200",
        "SOLBOT_TRADE_POLL_MS": "100",
        "SOLBOT_LOG_LEVEL": "info",
    }
    async with Ledger.open(database_url) as ledger:
        _user, token = await AuthService(ledger.users).create_user("killed")
    headers = {"Authorization": f"Bearer {token}"}
    first = Serve(env, tmp_path / "serve.log")
    async with httpx.AsyncClient(timeout=15, headers=headers) as http:
        rpc = RpcClient(http, simnet_process.rpc_url)
        faults = f"{simnet_process.venues_url}/admin/faults"
        try:
            wallet = (await http.post(f"{first.url}/v1/wallets")).json()["wallet"]
            await rpc.call("requestAirdrop", [wallet, 1_000_000_000])
            async with asyncio.timeout(10):
                while await rpc.get_balance(wallet) == 0:
                    await asyncio.sleep(0.05)
            sol_before = await _balance(rpc, wallet, SOL)
            assert (await http.put(faults, json={"rpc": {"drop_rate": 1.0}})).status_code == 200
            accepted = await http.post(
                f"{first.url}/v1/trades",
                json={
                    "wallet": wallet,
                    "inputMint": SOL,
                    "outputMint": USDC,
                    "amount": "100000000",
                    "slippageBps": 100,
                },
                headers={"Idempotency-Key": "killed-trade"},
            )
            assert accepted.status_code == 202, accepted.text
            trade_id = accepted.json()["tradeId"]
            async with asyncio.timeout(20):
                while (await http.get(f"{first.url}/v1/trades/{trade_id}")).json()[
                    "status"
                ] != "sent":
                    await asyncio.sleep(0.02)
            first.kill()
        finally:
            first.stop()
        assert (await http.put(faults, json={"scenario": "healthy"})).status_code == 200

        second = Serve(env, tmp_path / "serve.log")
        try:
            async with asyncio.timeout(30):
                while True:
                    trade = (await http.get(f"{second.url}/v1/trades/{trade_id}")).json()
                    if trade["status"] in ("confirmed", "failed", "expired"):
                        break
                    await asyncio.sleep(0.1)
        finally:
            second.stop()

        assert trade["status"] == "confirmed", trade
        assert len(trade["signatures"]) == 1
        (status,) = await rpc.get_signature_statuses([trade["signature"]])
        assert status is not None and status.err is None
        spent = sol_before - await _balance(rpc, wallet, SOL)
        assert spent == int(trade["actual"]["inAmount"]) + int(
            trade["fees"]["totalLamports"]
        ) + int(trade["actual"]["rentLamports"])
        assert await _balance(rpc, wallet, USDC) == int(trade["actual"]["outAmount"])
    assert "trade_resumed" in (tmp_path / "serve.log").read_text()
