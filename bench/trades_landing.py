"""Landing rate and latency of whole trades (quote -> build -> check -> sign -> land -> fill) on an
in-process simnet, healthy and with sends dropped, against a send-once baseline.

    .venv/bin/python bench/trades_landing.py [--trades 20] [--slot-ms 50] [--drop-rate 0.3]

Per mode, N trades of 0.01 SOL -> USDC run one after another from one demo wallet:
- `executor`: TradeExecutor with its Lander (rebroadcast every 0.5 s, polling + signatureSubscribe);
- `send-once`: the same checked and signed transaction sent once with maxRetries 0 and then only
  watched (no rebroadcast) until its blockhash expires: what a client without a rebroadcast loop
  gets. Only run under drops (healthy it lands every time).
Reports landed/expired counts, sends per trade and latency percentiles (sign -> confirmed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid

import httpx
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from solbot.config import SimnetSettings
from solbot.domain import QuoteRequest
from solbot.execution import Landed, Lander, TradeExecutor, TradeRecord, TradeState
from solbot.execution._model import OPEN_STATES
from solbot.rpc import PubSubClient, RpcClient
from solbot.sim import Simnet
from solbot.venues import AiohttpVenueSession, JupiterClient

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


class _Store:
    def __init__(self) -> None:
        self.trades: dict[str, TradeRecord] = {}

    async def transition(self, record: TradeRecord, *, expected: TradeState) -> None:
        self.trades[record.trade_id] = record

    async def open_trades(self) -> list[TradeRecord]:
        return [t for t in self.trades.values() if t.state in OPEN_STATES]


class _Signer:
    def __init__(self, keypair: Keypair) -> None:
        self._keypair = keypair

    @property
    def public_key(self) -> str:
        return str(self._keypair.pubkey())

    def sign_transaction(self, transaction: VersionedTransaction) -> VersionedTransaction:
        message = transaction.message
        signers = list(message.account_keys)[: message.header.num_required_signatures]
        signatures = list(transaction.signatures)
        signatures[signers.index(self._keypair.pubkey())] = self._keypair.sign_message(
            to_bytes_versioned(message)
        )
        return VersionedTransaction.populate(message, signatures)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(trades: int, slot_ms: int, drop_rate: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        settings = SimnetSettings(
            rpc_port=0,
            ws_port=0,
            venues_port=0,
            slot_ms=slot_ms,
            background_trades_per_s=0,
            data_dir=data_dir,
        )
        async with Simnet(settings) as simnet:
            endpoints = simnet.endpoints
            assert endpoints is not None and simnet.market.keys_file is not None
            keys = json.loads(simnet.market.keys_file.read_bytes())
            signer = _Signer(Keypair.from_bytes(bytes(keys["wallets"][0]["keypair"])))
            async with (
                httpx.AsyncClient(timeout=10) as http,
                AiohttpVenueSession() as venue_http,
                PubSubClient(endpoints.ws_url) as pubsub,
            ):
                rpc = RpcClient(http, endpoints.rpc_url)
                jupiter = JupiterClient(venue_http, f"{endpoints.venues_url}/jupiter/swap/v1")
                lander = Lander(
                    rpc, pubsub, rebroadcast_interval_s=0.5, poll_interval_s=0.2, final_check_s=3
                )
                store = _Store()
                executor = TradeExecutor(
                    rpc=rpc, store=store, builders={"jupiter": jupiter}, lander=lander
                )
                send_once = Lander(
                    rpc,
                    pubsub,
                    rebroadcast_interval_s=10_000,
                    poll_interval_s=0.2,
                    final_check_s=3,
                )

                async def faults(body: dict[str, object]) -> None:
                    await http.put(f"{endpoints.venues_url}/admin/faults", json=body)

                modes = [("healthy", "executor", 0.0), ("dropping", "executor", drop_rate)]
                modes.append(("dropping", "send-once", drop_rate))
                for label, mode, rate in modes:
                    await faults({"rpc": {"drop_rate": 0.0}})
                    latencies: list[float] = []
                    sends: list[int] = []
                    landed = expired = other = 0
                    for _ in range(trades):
                        request = QuoteRequest(
                            input_mint=SOL, output_mint=USDC, amount=10_000_000, slippage_bps=50
                        )
                        quote = await jupiter.quote(request, 5.0)
                        await faults({"rpc": {"drop_rate": rate}})
                        if mode == "executor":
                            record = TradeRecord(uuid.uuid4().hex, signer.public_key, quote)
                            store.trades[record.trade_id] = record
                            started = time.perf_counter()
                            done = await executor.execute(record, signer)
                            elapsed = time.perf_counter() - started
                            ok = done.state is TradeState.CONFIRMED
                            landed += ok
                            expired += done.state is TradeState.EXPIRED
                            other += not ok and done.state is not TradeState.EXPIRED
                        else:
                            swap = await jupiter.build_swap(
                                quote, signer.public_key, priority_fee_lamports=10_000, timeout_s=5
                            )
                            assert swap.last_valid_block_height is not None
                            signed = signer.sign_transaction(
                                VersionedTransaction.from_bytes(swap.transaction)
                            )
                            started = time.perf_counter()
                            result = await send_once.land(
                                bytes(signed),
                                str(signed.signatures[0]),
                                swap.last_valid_block_height,
                            )
                            elapsed = time.perf_counter() - started
                            ok = isinstance(result, Landed) and result.err is None
                            landed += ok
                            expired += not ok
                            if isinstance(result, Landed):
                                sends.append(result.sends)
                        await faults({"rpc": {"drop_rate": 0.0}})
                        if ok:
                            latencies.append(elapsed)
                    rows.append(
                        {
                            "mode": f"{mode}, {label} (drop {rate:.0%})",
                            "trades": trades,
                            "landed": landed,
                            "expired": expired,
                            "other": other,
                            "p50_s": statistics.median(latencies) if latencies else float("nan"),
                            "p90_s": _pct(latencies, 0.9),
                            "max_s": max(latencies) if latencies else float("nan"),
                        }
                    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trades", type=int, default=20)
    parser.add_argument("--slot-ms", type=int, default=50)
    parser.add_argument("--drop-rate", type=float, default=0.3)
    args = parser.parse_args()
    rows = asyncio.run(run(args.trades, args.slot_ms, args.drop_rate))
    print("| mode | trades | landed | expired | other | p50 | p90 | max |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['mode']} | {row['trades']} | {row['landed']} | {row['expired']} | "
            f"{row['other']} | {row['p50_s']:.2f} s | {row['p90_s']:.2f} s | {row['max_s']:.2f} s |"
        )


if __name__ == "__main__":
    main()
