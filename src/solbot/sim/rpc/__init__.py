"""The simnet chain's servers: Solana JSON-RPC over HTTP, PubSub over WebSocket, the slot clock.

`create_rpc_app(chain, faults)` is a Starlette app (serve it with `solbot.ops.AsgiServer`);
`PubSubServer(chain, faults)` listens with `await start(host, port)`; `run_slot_clock(chain,
slot_ms)` advances the chain until cancelled. `python -m solbot.sim.rpc` runs all three.
"""

from solbot.sim.rpc._app import create_rpc_app
from solbot.sim.rpc._clock import SlotSchedule, run_slot_clock
from solbot.sim.rpc._pubsub import PubSubServer

__all__ = ["PubSubServer", "SlotSchedule", "create_rpc_app", "run_slot_clock"]
