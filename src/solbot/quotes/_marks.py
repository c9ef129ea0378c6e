"""Independent marks without a call per quote: oracle USD prices kept fresh in the background.

Judging Jupiter's answer needs an independent price. Asking Pyth on every quote doubles the
upstream calls; prices are pushed or polled once for everyone instead, and a quote reads the
board. A stale or missing price gives no mark (the aggregator then asks Pyth itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from solbot.domain import KNOWN_TOKENS, token_by_mint
from solbot.errors import SolbotError
from solbot.ops import get_logger
from solbot.quotes._scoring import mark_out_amount

__all__ = ["MarkBoard", "UsdPrices", "refresh_marks"]

_log = get_logger("solbot.quotes")
_ORACLE_MINTS = tuple(token.mint for token in KNOWN_TOKENS if token.pyth_feed_id)


@dataclass(frozen=True, slots=True)
class _Mark:
    usd: float
    at: float


class UsdPrices(Protocol):
    async def prices(self, mints: Sequence[str], timeout_s: float) -> dict[str, float]: ...


class MarkBoard:
    """The latest oracle USD price per mint, with the time it was seen."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_age_s: float = 5.0) -> None:
        self._clock = clock
        self._max_age_s = max_age_s
        self._marks: dict[str, _Mark] = {}

    def update(self, mint: str, usd: float, at: float | None = None) -> None:
        if usd > 0:
            self._marks[mint] = _Mark(usd, self._clock() if at is None else at)

    def usd(self, mint: str) -> float | None:
        mark = self._marks.get(mint)
        if mark is None or self._clock() - mark.at > self._max_age_s:
            return None
        return mark.usd

    def usd_prices(self, mints: Sequence[str]) -> dict[str, Decimal]:
        """Fresh USD prices of those of `mints` the board knows (exact decimal strings of the
        oracle's float)."""
        found = ((mint, self.usd(mint)) for mint in mints)
        return {mint: Decimal(repr(usd)) for mint, usd in found if usd is not None}

    def mark_out(self, input_mint: str, output_mint: str, in_amount: int) -> int | None:
        """What `in_amount` of the input is worth in the output token, or None if unknown."""
        input_token, output_token = token_by_mint(input_mint), token_by_mint(output_mint)
        input_usd, output_usd = self.usd(input_mint), self.usd(output_mint)
        if None in (input_token, output_token, input_usd, output_usd):
            return None
        assert input_token is not None and output_token is not None
        assert input_usd is not None and output_usd is not None
        return mark_out_amount(
            in_amount, input_usd, output_usd, input_token.decimals, output_token.decimals
        )


async def refresh_marks(
    board: MarkBoard,
    source: UsdPrices,
    *,
    mints: Sequence[str] = _ORACLE_MINTS,
    interval_s: float = 1.0,
    timeout_s: float = 1.0,
) -> None:
    """Keep `board` fresh from `source` (Pyth) until cancelled; failures are logged, not fatal."""
    failing = False
    while True:
        try:
            for mint, usd in (await source.prices(mints, timeout_s)).items():
                board.update(mint, usd)
            if failing:
                _log.info("marks_recovered")
            failing = False
        except SolbotError as exc:
            if not failing:
                _log.warning("marks_refresh_failed", error=exc.message)
            failing = True
        await asyncio.sleep(interval_s)
