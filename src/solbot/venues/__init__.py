"""Venue adapters: Jupiter, DFlow, Hashflow and Pyth Hermes over their real HTTP wire formats.

Each adapter takes the shared `VenueSession` (see `build_venue_session`), its base URL and its
optional API key, and implements the ports of `solbot.domain` (`QuoteSource`, `SwapBuilder`,
`PriceSource`). One call is one attempt, bounded by the `timeout_s` it is given; failures are
`solbot.errors.UpstreamError` subclasses. API keys never reach an exception, a log or a repr.
"""

from solbot.venues._dflow import DFlowClient
from solbot.venues._hashflow import HashflowClient
from solbot.venues._http import (
    AiohttpVenueSession,
    QueryParams,
    VenueAnswer,
    VenueSession,
    VenueTransportError,
    build_http_client,
    build_venue_session,
    retry_after_s,
)
from solbot.venues._jupiter import JupiterClient
from solbot.venues._pyth import PythClient, PythPrice

__all__ = [
    "AiohttpVenueSession",
    "DFlowClient",
    "HashflowClient",
    "JupiterClient",
    "PythClient",
    "PythPrice",
    "QueryParams",
    "VenueAnswer",
    "VenueSession",
    "VenueTransportError",
    "build_http_client",
    "build_venue_session",
    "retry_after_s",
]
