"""Issue 3 (3): `/v1/quote` throughput of one bot instance against a bare pass-through proxy.

Four processes: the simnet (child), the bot (`python -m solbot serve`, child; generous rate
limits, 2000 ms deadline, no Redis), the proxy (child: FastAPI + uvicorn/httptools/uvloop + the
venue session the bot's adapters send through, `solbot.venues.build_venue_session`, same pool,
forwarding `GET /v1/quote` to the simnet's Jupiter `GET /quote` and returning its body) and this
load generator. Both servers run one process with one event loop, as one bot instance does.

At each concurrency level, each server gets `--warmup` s of load, then `--seconds` s of a closed
loop cut into `--slices` slices that alternate between the two servers, so both are measured
across the same stretch of the simnet's market (its pools drift from the oracle at times, and
then the bot must ask DFlow and Hashflow too) and of the machine's background load. The closed
loop: N keep-alive connections, each sending its next request as soon as the previous answer is
read (random pair, random amount: no single-flight merging). Answers other than 200
count as errors, not throughput. The load generator uses a lean asyncio HTTP/1.1 client
(`--client httpx` for httpx.AsyncClient) so that it takes less of the 2 shared cores.

    .venv/bin/python bench/quotes_throughput.py                       # ~1 min
    .venv/bin/python bench/quotes_throughput.py --concurrency 1 8 32 64 128 --seconds 20
    .venv/bin/python bench/quotes_throughput.py --mix sol-usdc        # SOL<->USDC only

Besides answers/s, each row gives answers per CPU-second of the server's process: on a shared
machine a server starved of CPU by other processes shows fewer answers/s, but its cost per answer
holds, so the per-CPU ratio is the steadier of the two. `--mix sol-usdc` leaves out BONK->USDC,
whose 30 bps pool often sits far enough from the oracle that the bot asks DFlow and Hashflow too:
it shows the aggregation's own cost when Jupiter alone suffices.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from _load import PAIRS, RawHttp, fmt_ms, percentile, quote_params
from _procs import (
    VENUE_TARGETS,
    Child,
    CpuMeter,
    machine,
    running,
    start_bot,
    start_proxy,
    start_simnet,
    workdir,
)

GENEROUS_RPS = 10_000


@dataclass
class Result:
    server: str
    concurrency: int
    answers: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_server: float
    cpu_simnet: float
    cpu_loadgen: float
    cpu_others: float
    venue_requests: int  # requests the simnet's venues received meanwhile

    @property
    def per_s(self) -> float:
        return self.answers / self.seconds

    @property
    def per_cpu_s(self) -> float:
        return self.answers / max(1e-9, self.cpu_server * self.seconds)


MIXES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "all": PAIRS,
    "sol-usdc": tuple(p for p in PAIRS if p[0] != PAIRS[2][0]),
}


async def closed_loop(
    url: str,
    concurrency: int,
    seconds: float,
    client_kind: str,
    seed: int,
    pairs: tuple[tuple[str, str, int], ...] = PAIRS,
) -> tuple[int, int, float, list[float]]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0
    shared = httpx.AsyncClient(
        timeout=10,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        trust_env=False,
    )

    async def worker(n: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + n)
        raw = RawHttp(parts.hostname or "127.0.0.1", parts.port or 80)
        try:
            while time.perf_counter() < stop_at:
                params = quote_params(rng, pairs)
                started = time.perf_counter()
                if client_kind == "raw":
                    status, _body = await raw.get("/v1/quote", params)
                else:
                    response = await shared.get(f"{url}/v1/quote", params=params)
                    status = response.status_code
                if status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1
        finally:
            await raw.close()

    started = time.perf_counter()
    async with shared:
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return len(latencies), errors, time.perf_counter() - started, latencies


async def measure_slice(
    name: str,
    server: Child,
    simnet: Child,
    concurrency: int,
    seconds: float,
    seed: int,
    args: argparse.Namespace,
) -> Result:
    url = server.ready["url"]
    meters = {
        "server": CpuMeter([server.pid]),
        "simnet": CpuMeter([simnet.pid]),
        "loadgen": CpuMeter([os.getpid()]),
        "all": CpuMeter([os.getpid(), server.pid, simnet.pid]),
    }
    since = time.time()
    answers, errors, elapsed, latencies = await closed_loop(
        url, concurrency, seconds, args.client, seed, MIXES[args.mix]
    )
    async with httpx.AsyncClient(timeout=10, trust_env=False) as admin:
        counts = (await admin.get(simnet.ready["arrivals_url"], params={"since": since})).json()
    venue_requests = sum(counts[target] for target in VENUE_TARGETS)
    return Result(
        name,
        concurrency,
        answers,
        errors,
        elapsed,
        latencies,
        meters["server"].read()[0],
        meters["simnet"].read()[0],
        meters["loadgen"].read()[0],
        meters["all"].read()[1],
        venue_requests,
    )


def combine(slices: list[Result]) -> Result:
    """One row from a server's slices: counts summed, CPU averaged over the time measured."""
    seconds = sum(r.seconds for r in slices)

    def cores(attr: str) -> float:
        return float(sum(getattr(r, attr) * r.seconds for r in slices) / seconds)

    return Result(
        slices[0].server,
        slices[0].concurrency,
        sum(r.answers for r in slices),
        sum(r.errors for r in slices),
        seconds,
        sorted(ms for r in slices for ms in r.latencies_ms),
        cores("cpu_server"),
        cores("cpu_simnet"),
        cores("cpu_loadgen"),
        cores("cpu_others"),
        sum(r.venue_requests for r in slices),
    )


async def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    settings: dict[str, str | int] = {
        "jupiter_rps": GENEROUS_RPS,
        "dflow_rps": GENEROUS_RPS,
        "hashflow_rps": GENEROUS_RPS,
        "pyth_rps": GENEROUS_RPS,
        "quote_deadline_ms": 2000,
        "log_level": args.bot_log_level,
    }
    with workdir("bench-quotes-throughput-", keep=args.keep_logs) as wd:
        print(f"# {machine()}; logs in {wd}", file=sys.stderr)
        with (
            running(start_simnet(wd, trades_per_s=args.trades_per_s, seed=args.seed)) as simnet,
            running(start_bot(simnet, wd, settings)) as bot,
            running(start_proxy(simnet.ready["settings"]["jupiter_url"], wd)) as proxy,
        ):
            servers = (("proxy", proxy), ("bot", bot))
            for concurrency in args.concurrency:
                for _name, server in servers:
                    pairs = MIXES[args.mix]
                    await closed_loop(
                        server.ready["url"],
                        concurrency,
                        args.warmup,
                        args.client,
                        args.seed,
                        pairs,
                    )
                # Interleaved slices: both servers are measured across the same stretch of the
                # simnet's market (whose drifts from the oracle decide how often the bot must
                # ask DFlow and Hashflow too) and of the machine's background load.
                slices: dict[str, list[Result]] = {name: [] for name, _ in servers}
                slice_s = args.seconds / args.slices
                for index in range(args.slices):
                    for name, server in servers:
                        slices[name].append(
                            await measure_slice(
                                name,
                                server,
                                simnet,
                                concurrency,
                                slice_s,
                                args.seed + 1 + index,
                                args,
                            )
                        )
                for name, _server in servers:
                    result = combine(slices[name])
                    results.append(result)
                    print(
                        f"# {name} c={concurrency}: {result.per_s:,.0f}/s, {result.errors} errors",
                        file=sys.stderr,
                    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and row")
    parser.add_argument(
        "--slices", type=int, default=5, help="each row's seconds, cut into alternating slices"
    )
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--trades-per-s", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bot-log-level", default="info")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--mix", choices=sorted(MIXES), default="all")
    args = parser.parse_args()
    import uvloop

    started = time.monotonic()
    results = uvloop.run(run(args))
    print(f"# took {time.monotonic() - started:.0f}s", file=sys.stderr)
    print(
        f"closed loop, {args.seconds:g}s per row in {args.slices} slices alternating with the "
        f"other server, after {args.warmup:g}s warm-up, client "
        f"{args.client}, bot log level {args.bot_log_level}, request mix {args.mix}\n"
    )
    print(
        "| server | connections | answers/s | answers per server CPU-s | errors | p50 ms | p99 ms "
        "| venue requests/answer | CPU server | CPU simnet | CPU load gen | CPU others |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        p50, p99 = percentile(r.latencies_ms, 50), percentile(r.latencies_ms, 99)
        print(
            f"| {r.server} | {r.concurrency} | {r.per_s:,.0f} | {r.per_cpu_s:,.0f} | {r.errors} "
            f"| {fmt_ms(p50)} "
            f"| {fmt_ms(p99)} | {r.venue_requests / max(1, r.answers + r.errors):.2f} "
            f"| {r.cpu_server:.2f} | {r.cpu_simnet:.2f} | {r.cpu_loadgen:.2f} "
            f"| {r.cpu_others:.2f} |"
        )
    best = {
        name: max((r for r in results if r.server == name), key=lambda r: r.per_s)
        for name in ("proxy", "bot")
    }
    print()
    for concurrency in args.concurrency:
        by = {r.server: r for r in results if r.concurrency == concurrency}
        print(
            f"- {concurrency} connections: bot/proxy = {by['bot'].per_s / by['proxy'].per_s:.2f}"
            f" (per server CPU-s: {by['bot'].per_cpu_s / by['proxy'].per_cpu_s:.2f})"
        )
    print(
        f"- best of each: bot {best['bot'].per_s:,.0f}/s ({best['bot'].concurrency} connections) "
        f"/ proxy {best['proxy'].per_s:,.0f}/s ({best['proxy'].concurrency} connections) = "
        f"**{best['bot'].per_s / best['proxy'].per_s:.2f}** (goal >= 0.7)"
    )
    bot_cpu = max(r.per_cpu_s for r in results if r.server == "bot")
    proxy_cpu = max(r.per_cpu_s for r in results if r.server == "proxy")
    print(
        f"- per server CPU-second, best of each: bot {bot_cpu:,.0f} / proxy {proxy_cpu:,.0f} = "
        f"**{bot_cpu / proxy_cpu:.2f}**"
    )


if __name__ == "__main__":
    main()
