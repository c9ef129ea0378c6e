"""Issue 3 (2): the aggregator's added latency over calling Jupiter directly, Jupiter healthy.

Three processes: the simnet (child), the bot (`python -m solbot serve`, child; generous rate
limits, 2000 ms deadline, no Redis) and this load generator. For `--pairs` random requests
(random pair, random amount), one after the other (concurrency 1, keep-alive httpx client),
the same request is sent both ways in random order: straight to the simnet's Jupiter
`GET /quote`, and to the bot's `GET /v1/quote`. Each answer is timed in this process from send
to the last byte. The added latency is reported as the difference of the percentiles and as
percentiles of the per-pair difference, for every answer and for the answers where Jupiter
alone sufficed (the bot did not start DFlow/Hashflow).

    .venv/bin/python bench/quotes_overhead.py                 # ~20 s
    .venv/bin/python bench/quotes_overhead.py --pairs 10000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
from _load import VALID, fmt_ms, judge_bot, judge_jupiter, percentile, quote_params
from _procs import CpuMeter, machine, running, start_bot, start_simnet, workdir

GENEROUS_RPS = 10_000


@dataclass
class Pair:
    direct_s: float
    bot_s: float
    direct_valid: bool
    bot_valid: bool
    jupiter_alone: bool  # the bot answered without starting the fallbacks
    bot_elapsed_ms: float | None  # the bot's own elapsedMs


async def timed_get(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> Any:
    started = time.perf_counter()
    response = await client.get(url, params=params)
    body = response.json()
    return time.perf_counter() - started, response.status_code, body


async def run(args: argparse.Namespace) -> tuple[list[Pair], tuple[float, float]]:
    rng = random.Random(args.seed)
    order = random.Random(args.seed + 1)
    pairs: list[Pair] = []
    settings: dict[str, str | int] = {
        "jupiter_rps": GENEROUS_RPS,
        "dflow_rps": GENEROUS_RPS,
        "hashflow_rps": GENEROUS_RPS,
        "pyth_rps": GENEROUS_RPS,
        "quote_deadline_ms": 2000,
        "log_level": args.bot_log_level,
    }
    with workdir("bench-quotes-overhead-", keep=args.keep_logs) as wd:
        print(f"# {machine()}; logs in {wd}", file=sys.stderr)
        with (
            running(start_simnet(wd, trades_per_s=args.trades_per_s, seed=args.seed)) as simnet,
            running(start_bot(simnet, wd, settings)) as bot,
        ):
            jupiter = simnet.ready["settings"]["jupiter_url"] + "/quote"
            quote = bot.ready["url"] + "/v1/quote"
            async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
                for i in range(args.warmup + args.pairs):
                    if i == args.warmup:
                        meter = CpuMeter([os.getpid(), simnet.pid, bot.pid])
                    params = quote_params(rng)
                    if order.random() < 0.5:
                        direct = await timed_get(client, jupiter, params)
                        via_bot = await timed_get(client, quote, params)
                    else:
                        via_bot = await timed_get(client, quote, params)
                        direct = await timed_get(client, jupiter, params)
                    if i < args.warmup:
                        continue
                    body = via_bot[2]
                    sources = {s["source"]: s["status"] for s in body.get("sources", [])}
                    pairs.append(
                        Pair(
                            direct_s=direct[0],
                            bot_s=via_bot[0],
                            direct_valid=direct[1] == 200
                            and judge_jupiter(direct[2], params).outcome == VALID,
                            bot_valid=judge_bot(via_bot[1], body, params).outcome == VALID,
                            jupiter_alone=sources.get("dflow") == "skipped"
                            and sources.get("hashflow") == "skipped",
                            bot_elapsed_ms=body.get("elapsedMs"),
                        )
                    )
                cpu = meter.read()
    return pairs, cpu


def report(pairs: list[Pair], label: str) -> None:
    if not pairs:
        print(f"| {label} | 0 | | | | | | | |")
        return
    direct = sorted(p.direct_s * 1000 for p in pairs)
    bot = sorted(p.bot_s * 1000 for p in pairs)
    diff = sorted((p.bot_s - p.direct_s) * 1000 for p in pairs)
    own = sorted(p.bot_elapsed_ms for p in pairs if p.bot_elapsed_ms is not None)
    print(
        f"| {label} | {len(pairs)} | {fmt_ms(percentile(direct, 50))} "
        f"| {fmt_ms(percentile(bot, 50))} | **{percentile(bot, 50) - percentile(direct, 50):.2f}**"
        f" | {fmt_ms(percentile(direct, 99))} | {fmt_ms(percentile(bot, 99))} "
        f"| {percentile(bot, 99) - percentile(direct, 99):.2f} "
        f"| {percentile(diff, 50):.2f} / {percentile(diff, 99):.2f} "
        f"| {fmt_ms(percentile(own, 50))} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--trades-per-s", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bot-log-level", default="info")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    import uvloop

    started = time.monotonic()
    pairs, (ours, others) = uvloop.run(run(args))
    print(f"# took {time.monotonic() - started:.0f}s", file=sys.stderr)
    invalid_direct = sum(not p.direct_valid for p in pairs)
    invalid_bot = sum(not p.bot_valid for p in pairs)
    alone = [p for p in pairs if p.jupiter_alone]
    print(
        f"{len(pairs)} pairs, concurrency 1, bot log level {args.bot_log_level}; invalid answers: "
        f"direct {invalid_direct}, bot {invalid_bot}; Jupiter alone sufficed in "
        f"{len(alone)}/{len(pairs)}; CPU ours {ours:.2f} cores, others {others:.2f} cores\n"
    )
    print(
        "| answers | pairs | direct p50 ms | bot p50 ms | added p50 ms | direct p99 ms "
        "| bot p99 ms | added p99 ms | per-pair diff p50 / p99 ms | bot's own elapsedMs p50 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    report(pairs, "all")
    report(alone, "Jupiter alone sufficed")
    report([p for p in pairs if not p.jupiter_alone], "fallbacks started")


if __name__ == "__main__":
    main()
