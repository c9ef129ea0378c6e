"""Jupiter /quote throughput of the simnet venues, served by another process.

Starts `python -m solbot.sim.venues --port 0` (chain slot clock, market with background traders,
venues under uvicorn + uvloop + httptools) in a child process, then drives GET
/jupiter/swap/v1/quote from several concurrent keep-alive clients for a fixed time and reports
requests/s and latency percentiles. The client is a minimal HTTP/1.1 loop over asyncio streams so
that the client's own cost stays small on a 2-core machine (httpx alone would need a core).

    .venv/bin/python bench/simnet_quotes.py --clients 32 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
JUP = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
WIF = "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm"
# (input, output, input decimals): direct, reversed, and multi-hop pairs
PAIRS = [(SOL, USDC, 9), (USDC, SOL, 6), (SOL, BONK, 9), (JUP, WIF, 6), (USDT, JUP, 6)]


def _start_server(trades_per_s: float) -> tuple[subprocess.Popen[str], int]:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "solbot.sim.venues",
            "--port",
            "0",
            "--trades-per-s",
            str(trades_per_s),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the venues process did not start")


async def _client(
    port: int, stop_at: float, latencies: list[float], errors: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            input_mint, output_mint, decimals = rng.choice(PAIRS)
            amount = rng.randrange(10**decimals // 100, 10**decimals * 50)
            request = (
                f"GET /jupiter/swap/v1/quote?inputMint={input_mint}&outputMint={output_mint}"
                f"&amount={amount}&slippageBps=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200") or b'"outAmount"' not in body:
                errors.append(1)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _run(port: int, clients: int, seconds: float, warmup: float) -> dict[str, float]:
    warm: list[float] = []
    await asyncio.gather(
        *(_client(port, time.perf_counter() + warmup, warm, [], i) for i in range(clients))
    )
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_client(port, started + seconds, latencies, errors, 1000 + i) for i in range(clients))
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "quotes_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--trades-per-s", type=float, default=2.0)
    args = parser.parse_args()
    proc, port = _start_server(args.trades_per_s)
    try:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        for clients in args.clients:
            result = runner(_run(port, clients, args.seconds, args.warmup))
            print(json.dumps(result))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
