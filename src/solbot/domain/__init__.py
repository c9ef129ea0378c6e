"""Shared value types of solbot. Imports nothing else of solbot."""

from solbot.domain._quote import (
    PriceSource,
    QuoteRequest,
    QuoteSource,
    RouteLeg,
    SwapBuilder,
    SwapMode,
    SwapTransaction,
    VenueQuote,
)
from solbot.domain._tokens import KNOWN_TOKENS, Token, resolve_symbol, token_by_mint

__all__ = [
    "KNOWN_TOKENS",
    "PriceSource",
    "QuoteRequest",
    "QuoteSource",
    "RouteLeg",
    "SwapBuilder",
    "SwapMode",
    "SwapTransaction",
    "Token",
    "VenueQuote",
    "resolve_symbol",
    "token_by_mint",
]
