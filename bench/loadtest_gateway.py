"""The gateway the load-test benchmarks aim at, in a process of its own: solbot.loadtest.PriceRig
(the real StreamHub + StreamServer on picows and uvloop, `tune_gc()` after start-up, process
metrics on /metrics) publishing `--rate` price updates/s over generated_mints(`--assets`).

Prints one JSON line `{"url", "metrics", "hook", "pid"}` when ready; runs until SIGTERM/SIGINT.

    .venv/bin/python bench/loadtest_gateway.py --rate 100 --assets 100 --users 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="price updates/s in total")
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--users", type=int, default=0, help="synthetic users (balances)")
    parser.add_argument("--users-file", type=Path, default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=25_000)
    parser.add_argument("--new-connections-per-s", type=float, default=1_000.0)
    parser.add_argument("--stall-ms", type=float, default=0.0)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    import uvloop

    from solbot.loadtest import PriceRig, generated_mints
    from solbot.ops import configure_logging
    from solbot.streams import tune_gc

    configure_logging("warning")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with PriceRig(
            generated_mints(args.assets),
            rate=args.rate,
            users=args.users,
            stall_ms=args.stall_ms,
            port=args.port,
            max_connections=args.max_connections,
            new_connections_per_s=args.new_connections_per_s,
        ) as rig:
            if args.users_file is not None:
                rig.write_users(args.users_file)
            tune_gc()
            ready = {
                "url": rig.stream_url,
                "metrics": rig.metrics_url,
                "hook": rig.hook_url,
                "pid": os.getpid(),
            }
            print(json.dumps(ready), flush=True)
            await stop.wait()
            print(json.dumps({"published": rig.published}), flush=True)

    uvloop.run(run())


if __name__ == "__main__":
    main()
