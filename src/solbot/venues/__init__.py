"""Venue adapters: Jupiter, DFlow, Hashflow and Pyth Hermes over their real HTTP wire formats.

Each adapter takes the shared `httpx.AsyncClient` (see `build_http_client`), its base URL and its
optional API key, and implements the ports of `solbot.domain` (`QuoteSource`, `SwapBuilder`,
`PriceSource`). One call is one attempt, bounded by the `timeout_s` it is given; failures are
`solbot.errors.UpstreamError` subclasses. API keys never reach an exception, a log or a repr.
"""

from solbot.venues._dflow import DFlowClient
from solbot.venues._hashflow import HashflowClient
from solbot.venues._http import build_http_client, retry_after_s
from solbot.venues._jupiter import JupiterClient
from solbot.venues._pyth import PythClient, PythPrice

__all__ = [
    "DFlowClient",
    "HashflowClient",
    "JupiterClient",
    "PythClient",
    "PythPrice",
    "build_http_client",
    "retry_after_s",
]
