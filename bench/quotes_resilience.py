"""Issue 3 (1): `/v1/quote` per fault scenario against a Jupiter-only client with plain retries.

Three processes: the simnet (child), the bot (`python -m solbot serve`, child, a fresh one per
scenario), and this load generator. For each scenario, each client in turn:

1. the simnet is set `healthy` and the client warms up for `--warmup` s (not measured: opens
   connections, gives the bot a latency history, as in steady state before an incident);
2. the simnet is switched to the scenario (`PUT /admin/faults`), and requests are sent in an
   open loop at `--rate` per second for `--seconds` (a random pair and a random amount each, so
   single flight never merges them); each is timed from when it was due until its whole answer
   was read, and judged: valid = HTTP 200 with an executable quote for the asked amount;
3. the simnet reports how many requests each venue received meanwhile (retry load on Jupiter).

Clients:
- `bot`: httpx.AsyncClient GET {bot}/v1/quote. The bot runs with generous per-source rate limits
  (SOLBOT_{JUPITER,DFLOW,HASHFLOW,PYTH}_RPS=10000), the default 2000 ms deadline, in-process
  breakers/limits (no Redis), log level info to a file. In `jupiter-rate-limited` a second bot is
  measured with SOLBOT_JUPITER_RPS=5, the plan the simnet enforces.
- baselines, in this process, calling the simnet's Jupiter `GET /quote` with a default
  `httpx.AsyncClient()` (5 s timeout, 100 connections) wrapped in tenacity `@retry` (retry on
  any exception, incl. `raise_for_status()`):
  `tenacity-docs`: stop_after_attempt(3), wait_exponential(multiplier=1, min=4, max=10) (the
  example in tenacity's documentation; waits 4 s, 4 s);
  `tenacity-fast`: stop_after_attempt(3), wait_exponential(multiplier=0.1, max=1) (waits 0.1 s,
  0.2 s). Bare `@retry` would retry forever without waiting: not measured, it never gives up.

Then `--collapse` scenarios are run again for the bot with identical requests (same pair, same
amount), where single flight shares one aggregation among concurrent callers.

    .venv/bin/python bench/quotes_resilience.py                     # ~4 min
    .venv/bin/python bench/quotes_resilience.py --seconds 60        # 1500 requests per row
    .venv/bin/python bench/quotes_resilience.py --scenarios healthy jupiter-hang --baselines \
        tenacity-docs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from _load import (
    VALID,
    Sample,
    Summary,
    Verdict,
    fmt_counts,
    fmt_ms,
    judge_bot,
    judge_jupiter,
    open_loop,
    quote_params,
    summarize,
)
from _procs import Child, CpuMeter, machine, running, start_bot, start_simnet, workdir
from tenacity import retry, stop_after_attempt, wait_exponential

SCENARIOS = (
    "healthy",
    "jupiter-down",
    "jupiter-slow",
    "jupiter-rate-limited",
    "jupiter-illiquid",
    "jupiter-hang",
    "volatile",
    "all-down",
)
ON_TIME_S = 2.1
GENEROUS_RPS = 10_000
PLAN_RPS = 5  # the simnet's jupiter-rate-limited plan
BASELINES: dict[str, dict[str, Any]] = {
    "tenacity-docs": {
        "stop": stop_after_attempt(3),
        "wait": wait_exponential(multiplier=1, min=4, max=10),
    },
    "tenacity-fast": {
        "stop": stop_after_attempt(3),
        "wait": wait_exponential(multiplier=0.1, max=1),
    },
}


def bot_settings(jupiter_rps: int, log_level: str) -> dict[str, str | int]:
    return {
        "jupiter_rps": jupiter_rps,
        "dflow_rps": GENEROUS_RPS,
        "hashflow_rps": GENEROUS_RPS,
        "pyth_rps": GENEROUS_RPS,
        "quote_deadline_ms": 2000,
        "log_level": log_level,
    }


@dataclass
class Row:
    scenario: str
    client: str
    requests_kind: str  # "varied" or "identical"
    summary: Summary
    venue_requests: dict[str, int]
    cpu_ours: float
    cpu_others: float

    @property
    def jupiter_per_quote(self) -> float:
        return self.venue_requests.get("jupiter", 0) / self.summary.requests

    def goal(self) -> str:
        """The issue's goal for the bot: 100 % on time, >= 99.9 % valid (all-down: on time)."""
        on_time = self.summary.within == self.summary.requests
        if self.scenario == "all-down":
            return "yes" if on_time else "NO"
        return "yes" if on_time and self.summary.valid_pct >= 99.9 else "NO"


Call = Callable[[int], Awaitable[Verdict]]


@dataclass
class Measured:
    samples: list[Sample]
    venue_requests: dict[str, int]
    cpu_ours: float  # cores used by the load generator, the simnet and the bot
    cpu_others: float  # cores used by every other process on the machine meanwhile


class Simnet:
    def __init__(self, child: Child, admin: httpx.AsyncClient) -> None:
        self.child = child
        self.admin = admin

    async def scenario(self, name: str) -> None:
        response = await self.admin.put(
            f"{self.child.ready['venues_url']}/admin/faults", json={"scenario": name}
        )
        response.raise_for_status()

    async def arrivals(self, since: float) -> dict[str, int]:
        response = await self.admin.get(self.child.ready["arrivals_url"], params={"since": since})
        response.raise_for_status()
        counts: dict[str, int] = response.json()
        return counts


def bot_call(
    client: httpx.AsyncClient,
    url: str,
    rng: random.Random | None,
    answers: list[dict[str, Any]] | None = None,
) -> Call:
    async def call(i: int) -> Verdict:
        params = quote_params(rng)
        started = time.perf_counter()
        response = await client.get(f"{url}/v1/quote", params=params)
        try:
            body = response.json()
        except ValueError:
            return Verdict(f"{response.status_code} not JSON")
        verdict = judge_bot(response.status_code, body, params)
        if answers is not None:
            sources = body.get("sources") or body.get("error", {}).get("details", {}).get("sources")
            answers.append(
                {
                    "i": i,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "status": response.status_code,
                    "verdict": verdict.outcome,
                    "winner": body.get("source"),
                    "elapsedMs": body.get("elapsedMs"),
                    "sources": sources,
                }
            )
        return verdict

    return call


def baseline_call(
    client: httpx.AsyncClient, jupiter_url: str, policy: dict[str, Any], rng: random.Random
) -> Call:
    @retry(**policy)  # type: ignore[untyped-decorator]  # tenacity's decorator is untyped
    async def get_quote(params: dict[str, str]) -> Any:
        response = await client.get(f"{jupiter_url}/quote", params=params)
        response.raise_for_status()
        return response.json()

    async def call(_i: int) -> Verdict:
        params = quote_params(rng)
        return judge_jupiter(await get_quote(params), params)

    return call


async def measure(
    simnet: Simnet,
    scenario: str,
    call: Call,
    args: argparse.Namespace,
    pids: list[int],
    answers: list[dict[str, Any]] | None = None,
) -> Measured:
    await simnet.scenario("healthy")
    await open_loop(call, rate=args.rate, seconds=args.warmup, give_up_s=args.give_up)
    if answers is not None:
        answers.clear()
    await simnet.scenario(scenario)
    since = time.time()
    meter = CpuMeter([os.getpid(), simnet.child.pid, *pids])
    samples = await open_loop(call, rate=args.rate, seconds=args.seconds, give_up_s=args.give_up)
    ours, others = meter.read()
    arrivals = await simnet.arrivals(since)
    await simnet.scenario("healthy")
    return Measured(samples, arrivals, ours, others)


def bot_client(args: argparse.Namespace) -> httpx.AsyncClient:
    # The load generator's own client never cuts an answer short: `--give-up` bounds each call.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(args.give_up + 5),
        limits=httpx.Limits(max_connections=2000, max_keepalive_connections=2000),
        trust_env=False,
    )


async def run_bot(
    simnet: Simnet,
    wd: Path,
    scenario: str,
    label: str,
    jupiter_rps: int,
    args: argparse.Namespace,
    *,
    identical: bool = False,
) -> Row:
    settings = bot_settings(jupiter_rps, args.bot_log_level)
    tag = f"bot-{scenario}-{'identical' if identical else 'varied'}-{jupiter_rps}"
    with running(start_bot(simnet.child, wd, settings, tag=tag)) as bot:
        async with bot_client(args) as client:
            rng = None if identical else random.Random(args.seed)
            answers: list[dict[str, Any]] | None = [] if args.keep_logs else None
            call = bot_call(client, bot.ready["url"], rng, answers)
            measured = await measure(simnet, scenario, call, args, [bot.pid], answers)
            if answers is not None:
                lines = "".join(json.dumps(a) + "\n" for a in answers)
                (wd / f"{tag}.answers.jsonl").write_text(lines)
    kind = "identical" if identical else "varied"
    return row(scenario, label, kind, measured)


def row(scenario: str, client: str, kind: str, measured: Measured) -> Row:
    return Row(
        scenario,
        client,
        kind,
        summarize(measured.samples, ON_TIME_S),
        measured.venue_requests,
        measured.cpu_ours,
        measured.cpu_others,
    )


async def run_baseline(simnet: Simnet, scenario: str, name: str, args: argparse.Namespace) -> Row:
    jupiter_url = simnet.child.ready["settings"]["jupiter_url"]
    async with httpx.AsyncClient() as client:  # httpx defaults: 5 s timeout, 100 connections
        call = baseline_call(client, jupiter_url, BASELINES[name], random.Random(args.seed))
        measured = await measure(simnet, scenario, call, args, [])
    return row(scenario, name, "varied", measured)


def print_rows(rows: list[Row]) -> None:
    print(
        "| scenario | client | requests | valid % | answered <= 2.1 s % | p50 ms | p99 ms | max ms "
        "| Jupiter req/quote | bot goal met | outcomes | winners | CPU ours/others |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|---|---|---|")
    for row in rows:
        s = row.summary
        goal = row.goal() if row.client.startswith("bot") else ""
        kind = " (identical)" if row.requests_kind == "identical" else ""
        print(
            f"| {row.scenario} | {row.client}{kind} | {s.requests} | {s.valid_pct:.1f} "
            f"| {s.within_pct:.1f} | {fmt_ms(s.p50_ms)} | {fmt_ms(s.p99_ms)} "
            f"| {fmt_ms(s.max_ms)} | {row.jupiter_per_quote:.2f} | {goal} "
            f"| {fmt_counts({k: v for k, v in s.outcomes.items() if k != VALID})} "
            f"| {fmt_counts(s.winners)} | {row.cpu_ours:.2f}/{row.cpu_others:.2f} |"
        )
    illiquid = [
        r
        for r in rows
        if r.summary.median_jupiter_shortfall_bps is not None and r.scenario == "jupiter-illiquid"
    ]
    for row in rows:
        if row.scenario == "jupiter-rate-limited":
            print(
                f"\n{row.scenario} / {row.client}: Jupiter received at most "
                f"{row.venue_requests.get('jupiter_max_in_1s', 0)} requests in any 1 s "
                f"(the simnet's plan: 5)"
            )
    for row in illiquid:
        print(
            f"\n{row.scenario} / {row.client}: median (winner - Jupiter's quote) = "
            f"{row.summary.median_jupiter_shortfall_bps:.1f} bps of the winner's outAmount"
        )


async def main_async(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    started = time.monotonic()
    with workdir("bench-quotes-", keep=args.keep_logs) as wd:
        print(f"# {machine()}; logs in {wd}", file=sys.stderr)
        with running(start_simnet(wd, trades_per_s=args.trades_per_s, seed=args.seed)) as child:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as admin:
                simnet = Simnet(child, admin)
                for scenario in args.scenarios:
                    rows.append(await run_bot(simnet, wd, scenario, "bot", GENEROUS_RPS, args))
                    if scenario == "jupiter-rate-limited":
                        label = f"bot, jupiter_rps={PLAN_RPS}"
                        rows.append(await run_bot(simnet, wd, scenario, label, PLAN_RPS, args))
                    for name in args.baselines:
                        rows.append(await run_baseline(simnet, scenario, name, args))
                    print(
                        f"# {scenario} done at {time.monotonic() - started:.0f}s", file=sys.stderr
                    )
                for scenario in args.collapse:
                    rows.append(
                        await run_bot(
                            simnet, wd, scenario, "bot", GENEROUS_RPS, args, identical=True
                        )
                    )
    print(f"# total {time.monotonic() - started:.0f}s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=list(BASELINES))
    parser.add_argument("--collapse", nargs="*", default=["healthy", "jupiter-slow"])
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1.0, help="healthy seconds before")
    parser.add_argument("--give-up", type=float, default=60.0, help="the load generator's cap")
    parser.add_argument("--trades-per-s", type=float, default=2.0, help="simnet background")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bot-log-level", default="info")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the children's logs and the bot's answers"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    import uvloop

    rows = uvloop.run(main_async(args))
    print(
        f"rate {args.rate:g}/s for {args.seconds:g}s per row, open loop, after {args.warmup:g}s "
        f"healthy warm-up; latency from when each request was due\n"
    )
    print_rows(rows)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                [
                    {**asdict(r.summary), **{k: v for k, v in asdict(r).items() if k != "summary"}}
                    for r in rows
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
