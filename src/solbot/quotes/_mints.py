"""Which mints exist: the known tokens, else the chain, asked once and remembered."""

from __future__ import annotations

from typing import Protocol

from solbot.domain import token_by_mint
from solbot.errors import InvalidRequest, UpstreamError
from solbot.ops import get_logger
from solbot.resilience import Clock, monotonic

__all__ = ["MintDirectory", "MintLookup"]

_log = get_logger("solbot.quotes")


class MintLookup(Protocol):
    async def mint_decimals(self, mint: str, *, timeout_s: float | None = None) -> int | None: ...


class MintDirectory:
    """Decimals by mint. Positive answers are kept; "no such mint" is kept for a minute; when the
    chain cannot be asked in time the mint is let through (the venues then judge it)."""

    def __init__(
        self, lookup: MintLookup | None, *, clock: Clock = monotonic, negative_ttl_s: float = 60.0
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._negative_ttl_s = negative_ttl_s
        self._decimals: dict[str, int] = {}
        self._missing_until: dict[str, float] = {}

    async def require(self, mint: str, field: str, *, timeout_s: float) -> int | None:
        """The mint's decimals; InvalidRequest(INVALID_MINT) when the chain says it is no mint."""
        known = token_by_mint(mint)
        if known is not None:
            return known.decimals
        if mint in self._decimals:
            return self._decimals[mint]
        if self._missing_until.get(mint, 0.0) > self._clock():
            raise self._unknown(mint, field)
        if self._lookup is None or timeout_s <= 0:
            return None
        try:
            decimals = await self._lookup.mint_decimals(mint, timeout_s=timeout_s)
        except UpstreamError as exc:
            _log.warning("mint_lookup_failed", mint=mint, error=exc.message)
            return None
        if decimals is None:
            if len(self._missing_until) > 10_000:
                self._missing_until.clear()
            self._missing_until[mint] = self._clock() + self._negative_ttl_s
            raise self._unknown(mint, field)
        self._decimals[mint] = decimals
        return decimals

    @staticmethod
    def _unknown(mint: str, field: str) -> InvalidRequest:
        return InvalidRequest(
            f"{field} {mint} is not a token mint on this chain", code="INVALID_MINT", field=field
        )
