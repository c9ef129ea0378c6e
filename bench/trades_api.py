"""Trades end to end through the bot's HTTP API on the simnet: throughput, confirmation latency
under `healthy` and `volatile`, and the landing rate under `rpc-dropping` (30 % of sends lost).

    .venv/bin/python bench/trades_api.py [--slot-ms 100] [--wallets 8] [--per-wallet 5]
                                          [--latency-trades 20] [--dropping-trades 30]

The simnet runs as `solbot sim` in a child process (its own CPU); the bot (build_services + the
real HTTP server, SQLite ledger) in this process; users, custodial wallets (funded by
requestAirdrop) and trades go through real HTTP. Each trade is POST /v1/trades with a fresh
Idempotency-Key, then followed with GET /v1/trades/{id} until final (every 0.3 s under load, as a
client should; every 20 ms in the one-at-a-time latency runs).

- throughput: W wallets trade at once, K trades each one after another (one trade per wallet at
  a time is the bot's rule): trades confirmed / wall time from the first POST to the last final.
- latency: one wallet at a time, alternating SOL->USDC and USDC->SOL: slots from the slot seen
  just before the POST to the slot the transaction landed in; milliseconds from `sentAt` to
  `confirmedAt` (the landing alone) and from the POST to `confirmedAt` (the whole trade).
- landing under rpc-dropping: every trade is confirmed, expired or failed (never left open);
  each has one signature; and per wallet the chain's SOL and USDC changes equal the sum of the
  ledger's amounts, fees and rent (nothing lost, nothing counted twice).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from solbot.bootstrap import build_app, build_services
from solbot.config import load_settings
from solbot.ops import AsgiServer, configure_logging
from solbot.rpc import RpcClient, decode_token_account

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
FINAL = ("confirmed", "failed", "expired")


def start_simnet(slot_ms: int, data_dir: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "solbot",
            "sim",
            "--rpc-port",
            "0",
            "--ws-port",
            "0",
            "--venues-port",
            "0",
            "--slot-ms",
            str(slot_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "SOLBOT_SIM_DATA_DIR": data_dir,
            "SOLBOT_SIM_BACKGROUND_TRADES_PER_S": "0",
            "COLUMNS": "200",
        },
    )
    assert process.stdout is not None
    text = ""
    while "simnet running" not in text:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"solbot sim did not start:\n{text}")
        text += line
    rpc = re.search(r"simnet RPC\s+(\S+)", text)
    ws = re.search(r"simnet WS\s+(\S+)", text)
    venues = re.search(r"venues\s+(http://\S+)", text)
    assert rpc and ws and venues
    return process, {"rpc": rpc.group(1), "ws": ws.group(1), "venues": venues.group(1)}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Wallet:
    address: str
    client: httpx.AsyncClient


class Harness:
    def __init__(self, url: str, services: Any, rpc: RpcClient, venues: str) -> None:
        self.url = url
        self.services = services
        self.rpc = rpc
        self.venues = venues
        self.clients: list[httpx.AsyncClient] = []

    async def wallet(self, lamports: int) -> Wallet:
        _user, token = await self.services.auth.create_user(f"bench-{uuid.uuid4().hex[:8]}")
        client = httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.clients.append(client)
        address = (await client.post("/v1/wallets")).json()["wallet"]
        await self.rpc.call("requestAirdrop", [address, lamports])
        for _ in range(600):  # 30 s
            if await self.rpc.get_balance(address) >= lamports:
                break
            await asyncio.sleep(0.05)
        return Wallet(address, client)

    async def faults(self, scenario: str) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.put(f"{self.venues}/admin/faults", json={"scenario": scenario})
            response.raise_for_status()

    async def balance(self, wallet: str, mint: str) -> int:
        if mint == SOL:
            return await self.rpc.get_balance(wallet)
        total = 0
        for state in (await self.rpc.get_token_accounts_by_owner(wallet, mint=mint)).values():
            token = decode_token_account(state)
            total += token.amount if token is not None else 0
        return total

    async def trade(
        self,
        wallet: Wallet,
        input_mint: str,
        output_mint: str,
        amount: int,
        *,
        follow_s: float = 0.3,
        timeout_s: float = 120.0,
    ) -> dict[str, Any]:
        slot_before = await self.rpc.call("getSlot", [{"commitment": "confirmed"}])
        posted = time.perf_counter()
        response = await wallet.client.post(
            "/v1/trades",
            json={
                "wallet": wallet.address,
                "inputMint": input_mint,
                "outputMint": output_mint,
                "amount": str(amount),
                "slippageBps": 100,
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code >= 400:
            return {"status": "refused", "error": response.json()["error"]}
        trade_id = response.json()["tradeId"]
        deadline = time.monotonic() + timeout_s
        while True:
            trade: dict[str, Any] = (await wallet.client.get(f"/v1/trades/{trade_id}")).json()
            if trade["status"] in FINAL or time.monotonic() > deadline:
                break
            await asyncio.sleep(follow_s)
        trade["_elapsed_s"] = time.perf_counter() - posted
        trade["_slot_before"] = slot_before
        return trade

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def throughput(h: Harness, wallets: int, per_wallet: int) -> str:
    await h.faults("healthy")
    funded = await asyncio.gather(*(h.wallet(2_000_000_000) for _ in range(wallets)))

    async def run(wallet: Wallet) -> list[dict[str, Any]]:
        return [await h.trade(wallet, SOL, USDC, 20_000_000) for _ in range(per_wallet)]

    started = time.perf_counter()
    results = [t for batch in await asyncio.gather(*(run(w) for w in funded)) for t in batch]
    elapsed = time.perf_counter() - started
    confirmed = sum(1 for t in results if t["status"] == "confirmed")
    return (
        f"| throughput, healthy | {wallets} wallets x {per_wallet} | {len(results)} | "
        f"{confirmed} | {elapsed:.1f} s | **{confirmed / elapsed:.2f} trades/s** |"
    )


async def latency(h: Harness, scenario: str, trades: int, slot_ms: int) -> str:
    await h.faults("healthy")
    wallet = await h.wallet(3_000_000_000)
    await h.faults(scenario)
    done: list[dict[str, Any]] = []
    for i in range(trades):
        if i % 2 == 0:
            done.append(await h.trade(wallet, SOL, USDC, 50_000_000, follow_s=0.02))
        else:
            usdc = await h.balance(wallet.address, USDC)
            if usdc == 0:
                continue
            done.append(await h.trade(wallet, USDC, SOL, max(1, usdc // 2), follow_s=0.02))
    await h.faults("healthy")
    ok = [t for t in done if t["status"] == "confirmed"]
    slots = [float(t["slot"] - t["_slot_before"]) for t in ok]
    landing_ms = [(_time(t["confirmedAt"]) - _time(t["sentAt"])).total_seconds() * 1000 for t in ok]
    whole_ms = [t["_elapsed_s"] * 1000 for t in ok]
    failures = sorted({t["failure"]["code"] for t in done if t.get("failure")})
    return (
        f"| {scenario} ({slot_ms} ms slots) | {len(done)} | {len(ok)} | "
        f"{_pct(slots, 0.5):.0f} / {_pct(slots, 0.99):.0f} | "
        f"{_pct(landing_ms, 0.5):.0f} / {_pct(landing_ms, 0.99):.0f} | "
        f"{_pct(whole_ms, 0.5):.0f} / {_pct(whole_ms, 0.99):.0f} | {', '.join(failures) or '-'} |"
    )


async def dropping(h: Harness, trades: int, wallets: int) -> str:
    await h.faults("healthy")
    funded = await asyncio.gather(*(h.wallet(2_000_000_000) for _ in range(wallets)))
    before = {
        w.address: (await h.balance(w.address, SOL), await h.balance(w.address, USDC))
        for w in funded
    }
    await h.faults("rpc-dropping")

    async def run(wallet: Wallet, count: int) -> list[dict[str, Any]]:
        return [await h.trade(wallet, SOL, USDC, 10_000_000) for _ in range(count)]

    per = [trades // wallets + (1 if i < trades % wallets else 0) for i in range(wallets)]
    batches = await asyncio.gather(*(run(w, n) for w, n in zip(funded, per, strict=True)))
    await h.faults("healthy")
    results = [t for batch in batches for t in batch]
    counts = {s: sum(1 for t in results if t["status"] == s) for s in (*FINAL, "refused")}
    left_open = len(results) - sum(counts.values())
    duplicated = sum(1 for t in results if len(t.get("signatures", [])) > 1)
    mismatched = 0
    for wallet, batch in zip(funded, batches, strict=True):
        sol_0, usdc_0 = before[wallet.address]
        sol_spent = sol_0 - await h.balance(wallet.address, SOL)
        usdc_got = await h.balance(wallet.address, USDC) - usdc_0
        ledger_sol = sum(
            int((t.get("actual") or {}).get("inAmount") or 0)
            + int((t.get("fees") or {}).get("totalLamports") or 0)
            + int((t.get("actual") or {}).get("rentLamports") or 0)
            for t in batch
        )
        ledger_usdc = sum(int((t.get("actual") or {}).get("outAmount") or 0) for t in batch)
        mismatched += (sol_spent != ledger_sol) + (usdc_got != ledger_usdc)
    rate = counts["confirmed"] / len(results) if results else 0.0
    return (
        f"| rpc-dropping (30 % of sends lost) | {len(results)} | {counts['confirmed']} | "
        f"{counts['expired']} | {counts['failed']} | {left_open} | {duplicated} | {mismatched} | "
        f"**{rate:.0%}** |"
    )


async def main(args: argparse.Namespace) -> None:
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as tmp:
        process, urls = start_simnet(args.slot_ms, f"{tmp}/sim")
        try:
            venues = urls["venues"]
            settings = load_settings(
                jupiter_url=f"{venues}/jupiter/swap/v1",
                jupiter_price_url=f"{venues}/jupiter/price/v3",
                dflow_url=f"{venues}/dflow",
                hashflow_url=f"{venues}/hashflow",
                pyth_url=f"{venues}/pyth",
                rpc_url=urls["rpc"],
                rpc_ws_url=urls["ws"],
                simnet=True,
                simnet_data_dir=f"{tmp}/bot",
                database_url=f"sqlite+aiosqlite:///{tmp}/ledger.db",
                redis_url=None,
                # The simnet's venues have no plan to respect: do not let the rate limits of
                # mainnet's plans be what this measures.
                jupiter_rps=10_000,
                dflow_rps=10_000,
                hashflow_rps=10_000,
                pyth_rps=10_000,
                trade_rebroadcast_ms=args.rebroadcast_ms,
                trade_poll_ms=args.poll_ms,
                log_level="warning",
            )
            async with (
                build_services(settings) as services,
                AsgiServer(build_app(services)) as server,
                httpx.AsyncClient(timeout=10) as http,
            ):
                h = Harness(server.url, services, RpcClient(http, settings.rpc_url), venues)
                try:
                    rows = [
                        "| run | shape | trades | confirmed | wall time | rate |",
                        "|---|---|---|---|---|---|",
                        await throughput(h, args.wallets, args.per_wallet),
                        "",
                        "| scenario | trades | confirmed | slots p50 / p99 | send->confirmed ms "
                        "p50 / p99 | POST->confirmed ms p50 / p99 | failures |",
                        "|---|---|---|---|---|---|---|",
                        await latency(h, "healthy", args.latency_trades, args.slot_ms),
                        await latency(h, "volatile", args.latency_trades, args.slot_ms),
                        "",
                        "| fault | trades | confirmed | expired | failed | left open | "
                        "duplicated | ledger != chain | landing rate |",
                        "|---|---|---|---|---|---|---|---|---|",
                        await dropping(h, args.dropping_trades, args.wallets),
                    ]
                finally:
                    await h.aclose()
            sys.stdout.write("\n".join(rows) + "\n")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slot-ms", type=int, default=100)
    parser.add_argument("--wallets", type=int, default=8)
    parser.add_argument("--per-wallet", type=int, default=5)
    parser.add_argument("--latency-trades", type=int, default=20)
    parser.add_argument("--dropping-trades", type=int, default=30)
    parser.add_argument("--rebroadcast-ms", type=int, default=500)
    parser.add_argument("--poll-ms", type=int, default=100)
    import uvloop

    uvloop.run(main(parser.parse_args()))
