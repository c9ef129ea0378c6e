"""`python -m solbot.sim.rpc`: a bare simnet chain (RPC, PubSub, slot clock) in one process.

Used by the benchmark and handy for poking at the node with curl; `solbot sim` runs the whole
simnet. Prints one line, `rpc=<url> ws=<url>`, once both servers listen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from solbot.ops import AsgiServer
from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook, FaultProfileError
from solbot.sim.rpc._app import create_rpc_app
from solbot.sim.rpc._clock import run_slot_clock
from solbot.sim.rpc._pubsub import PubSubServer


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m solbot.sim.rpc", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899, help="JSON-RPC port (0: any free)")
    parser.add_argument("--ws-port", type=int, default=8900, help="PubSub port (0: any free)")
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--scenario", default="healthy", help="fault scenario to start with")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, faults: FaultBook) -> None:
    chain = SimChain()
    rpc = AsgiServer(create_rpc_app(chain, faults), args.host, args.port)
    pubsub = PubSubServer(chain, faults)
    rpc_port = await rpc.start()
    ws_port = await pubsub.start(args.host, args.ws_port)
    clock = asyncio.create_task(run_slot_clock(chain, args.slot_ms))
    sys.stdout.write(f"rpc=http://{args.host}:{rpc_port} ws=ws://{args.host}:{ws_port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        clock.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock
        await pubsub.stop()
        await rpc.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    faults = FaultBook()
    try:
        faults.apply_scenario(args.scenario)
    except FaultProfileError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(_serve(args, faults))
    else:
        uvloop.run(_serve(args, faults))
    return 0


if __name__ == "__main__":
    sys.exit(main())
