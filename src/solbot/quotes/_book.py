"""Quotes handed out to users, kept until they expire so a trade can use them by id."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from solbot._random import token_urlsafe
from solbot.domain import VenueQuote
from solbot.resilience import Clock

__all__ = ["IssuedQuote", "QuoteBook"]


@dataclass(frozen=True, slots=True)
class IssuedQuote:
    quote_id: str
    quote: VenueQuote
    expires_at_unix: float


class QuoteBook:
    """In-process, bounded, expiring; `issue` names a quote, `get` finds it until it expires."""

    def __init__(
        self, *, wall_clock: Clock, ttl_s: float = 30.0, max_entries: int = 100_000
    ) -> None:
        self._wall_clock = wall_clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[str, IssuedQuote] = OrderedDict()

    def issue(self, quote: VenueQuote) -> IssuedQuote:
        now = self._wall_clock()
        expires = now + self._ttl_s
        if quote.expires_at is not None:
            expires = min(expires, quote.expires_at)
        issued = IssuedQuote(f"q_{token_urlsafe(16)}", quote, expires)
        self._entries[issued.quote_id] = issued
        self._evict(now)
        return issued

    def get(self, quote_id: str) -> IssuedQuote | None:
        issued = self._entries.get(quote_id)
        if issued is None or issued.expires_at_unix <= self._wall_clock():
            return None
        return issued

    def _evict(self, now: float) -> None:
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if len(self._entries) <= self._max_entries and oldest.expires_at_unix > now:
                break
            self._entries.popitem(last=False)
