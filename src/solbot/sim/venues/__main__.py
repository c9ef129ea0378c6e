"""`python -m solbot.sim.venues --port N`: the venues on their own (for benchmarks and demos).

Runs a chain with its slot clock, the market with background traders, and the venues app under
uvicorn (uvloop + httptools), in one process. Prints `listening on http://HOST:PORT` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from pathlib import Path

import uvicorn

from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook
from solbot.sim.market import Market
from solbot.sim.venues._app import create_venues_app


async def _slot_clock(chain: SimChain, slot_ms: int) -> None:
    while True:
        await asyncio.sleep(slot_ms / 1000)
        chain.tick()


async def _serve(args: argparse.Namespace) -> None:
    chain = SimChain()
    faults = FaultBook(rng=random.Random(args.seed + 1))  # noqa: S311 - simulation noise
    data_dir = Path(args.data_dir) if args.data_dir else None
    market = Market(chain, faults, seed=args.seed, data_dir=data_dir)
    market.setup()
    if args.scenario:
        faults.apply_scenario(args.scenario)
    app = create_venues_app(chain, market, faults)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=2,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    tasks = [
        asyncio.create_task(_slot_clock(chain, args.slot_ms)),
        asyncio.create_task(market.run(args.trades_per_s, args.tick_ms)),
    ]
    serving = asyncio.create_task(server.serve())
    # uvicorn offers no started event to wait on
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        sys.stdout.write(f"listening on http://{args.host}:{port}\n")
        sys.stdout.flush()
    try:
        await serving
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m solbot.sim.venues", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8910)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--trades-per-s", type=float, default=2.0)
    parser.add_argument("--tick-ms", type=int, default=400)
    parser.add_argument("--scenario", default=None, help="fault scenario to start with")
    parser.add_argument("--data-dir", default=None, help="where to write the demo keys file")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
