"""Quote aggregation: Jupiter first, fallbacks, confidence, scoring, selection."""

from solbot.quotes._aggregator import AggregatedQuote, AllSourcesFailed, QuoteAggregator
from solbot.quotes._book import IssuedQuote, QuoteBook
from solbot.quotes._guarded import GuardedSource, SourceOutcome
from solbot.quotes._marks import MarkBoard, refresh_marks
from solbot.quotes._mints import MintDirectory
from solbot.quotes._request import QUOTE_SOURCES, QuoteQuery, parse_quote_query
from solbot.quotes._scoring import Confidence, ScoredQuote
from solbot.quotes._service import QuoteFailed, QuoteService

__all__ = [
    "QUOTE_SOURCES",
    "AggregatedQuote",
    "AllSourcesFailed",
    "Confidence",
    "GuardedSource",
    "IssuedQuote",
    "MarkBoard",
    "MintDirectory",
    "QuoteAggregator",
    "QuoteBook",
    "QuoteFailed",
    "QuoteQuery",
    "QuoteService",
    "ScoredQuote",
    "SourceOutcome",
    "parse_quote_query",
    "refresh_marks",
]
