"""The simnet's venues: Jupiter, DFlow, Hashflow and Pyth Hermes over their real wire formats.

`create_venues_app(chain, market, faults)` returns one Starlette app serving all of them (paths
under /jupiter, /dflow, /hashflow, /pyth) plus `GET|PUT /admin/faults` and `GET /admin/market`.
`python -m solbot.sim.venues --port N` runs a standalone simnet (chain clock, market, venues).
"""

from solbot.sim.venues._app import create_venues_app
from solbot.sim.venues._dflow import DFLOW_FEE_BPS
from solbot.sim.venues._hashflow import HASHFLOW_PROGRAM_ID, QUOTE_TTL_S
from solbot.sim.venues._jupiter import jupiter_quote_json

__all__ = [
    "DFLOW_FEE_BPS",
    "HASHFLOW_PROGRAM_ID",
    "QUOTE_TTL_S",
    "create_venues_app",
    "jupiter_quote_json",
]
