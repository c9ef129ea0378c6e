"""sendTransaction/s over HTTP to the simnet chain's RPC server running in another process.

    .venv/bin/python bench/simnet_chain.py [--transactions 3000] [--clients 8] [--skip-preflight]

Starts `python -m solbot.sim.rpc --port 0 --ws-port 0` as a subprocess, funds payers with
requestAirdrop, pre-signs N SOL transfers against one recent blockhash, drives them with several
concurrent httpx clients, then checks with getSignatureStatuses that every one landed.
Goal: >= 300 sendTransaction/s on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

REPO = Path(__file__).resolve().parent.parent


def start_server(slot_ms: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "solbot.sim.rpc",
            "--port",
            "0",
            "--ws-port",
            "0",
            "--slot-ms",
            str(slot_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "rpc=<url> ws=<url>", printed once both servers listen
    if not line.startswith("rpc="):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.split()[0].removeprefix("rpc=")


async def rpc(client: httpx.AsyncClient, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    response = await client.post(url, content=orjson.dumps(body))
    answer = orjson.loads(response.content)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def sign_transfers(payers: list[Keypair], count: int, blockhash: Hash) -> list[str]:
    recipients = [Keypair().pubkey() for _ in range(16)]
    wires = []
    for i, payer in zip(range(count), itertools.cycle(payers), strict=False):
        ix = transfer(
            TransferParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=recipients[i % len(recipients)],
                lamports=1_000_000 + i,  # distinct amounts: distinct signatures
            )
        )
        message = Message.new_with_blockhash([ix], payer.pubkey(), blockhash)
        wires.append(base64.b64encode(bytes(VersionedTransaction(message, [payer]))).decode())
    return wires


async def drive(url: str, wires: list[str], clients: int, skip_preflight: bool) -> dict[str, Any]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for wire in wires:
        queue.put_nowait(wire)
    latencies: list[float] = []
    signatures: list[str] = []
    errors: list[str] = []
    config = {"encoding": "base64", "skipPreflight": skip_preflight, "maxRetries": 0}

    async def worker() -> None:
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), limits=limits) as client:
            while True:
                try:
                    wire = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    signatures.append(await rpc(client, url, "sendTransaction", wire, config))
                except (RuntimeError, httpx.HTTPError) as exc:
                    errors.append(str(exc))
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "sent": len(wires),
        "ok": len(signatures),
        "errors": errors[:3],
        "error_count": len(errors),
        "elapsed_s": elapsed,
        "tps": len(signatures) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "signatures": signatures,
    }


async def count_landed(url: str, signatures: list[str]) -> int:
    landed = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        for start in range(0, len(signatures), 256):
            batch = signatures[start : start + 256]
            statuses = await rpc(client, url, "getSignatureStatuses", batch)
            landed += sum(1 for s in statuses["value"] if s is not None and s["err"] is None)
    return landed


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    proc, url = start_server(args.slot_ms)
    try:
        payers = [Keypair() for _ in range(args.payers)]
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
            for payer in payers:
                await rpc(client, url, "requestAirdrop", str(payer.pubkey()), 10**12)
            latest = await rpc(client, url, "getLatestBlockhash", {"commitment": "processed"})
        blockhash = Hash.from_string(latest["value"]["blockhash"])
        sign_started = time.perf_counter()
        wires = sign_transfers(payers, args.transactions, blockhash)
        sign_s = time.perf_counter() - sign_started
        result = await drive(url, wires, args.clients, args.skip_preflight)
        result["landed"] = await count_landed(url, result.pop("signatures"))
        result["sign_s"] = sign_s
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--payers", type=int, default=64)
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--skip-preflight", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    mode = "skipPreflight" if args.skip_preflight else "with preflight"
    print(
        f"{mode}: {result['ok']}/{result['sent']} answered, {result['landed']} landed, "
        f"{result['error_count']} errors in {result['elapsed_s']:.2f} s -> "
        f"{result['tps']:.0f} sendTransaction/s; latency p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms ({args.clients} clients)"
    )
    if result["errors"]:
        print("first errors:", result["errors"])


if __name__ == "__main__":
    main()
