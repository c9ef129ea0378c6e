"""Turning a user's quote query into a validated request, with the 400 codes of CONTRACT.md."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from solders.pubkey import Pubkey

from solbot.domain import SwapMode, resolve_symbol
from solbot.errors import InvalidRequest

__all__ = ["QUOTE_SOURCES", "QuoteQuery", "parse_quote_query"]

QUOTE_SOURCES = ("jupiter", "dflow", "hashflow", "pyth")
U64_MAX = 2**64 - 1
_MAX_AMOUNT_DIGITS = 20


@dataclass(frozen=True, slots=True)
class QuoteQuery:
    input_mint: str
    output_mint: str
    amount: int
    slippage_bps: int
    swap_mode: SwapMode
    sources: tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def _valid_mint(raw: str) -> str | None:
    """The mint `raw` names (a symbol or an address), None when it is neither; remembered, as
    the same few mints come in over and over."""
    value = resolve_symbol(raw.strip())
    try:
        Pubkey.from_string(value)
    except ValueError:
        return None
    return value


def _mint(raw: str | None, field: str) -> str:
    if raw is None:
        raise InvalidRequest(f"{field} is required", code="INVALID_REQUEST", field=field)
    if not raw.strip():
        raise InvalidRequest(f"{field} is empty", code="INVALID_MINT", field=field)
    # Only short strings are remembered: a mint address is at most 44 characters.
    valid = _valid_mint(raw) if len(raw) <= 64 else _valid_mint.__wrapped__(raw)
    if valid is None:
        value = resolve_symbol(raw.strip())
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise InvalidRequest(
            f"{field} {shown!r} is neither a known symbol nor a base58 mint address",
            code="INVALID_MINT",
            field=field,
        )
    return valid


def parse_quote_query(params: Mapping[str, str]) -> QuoteQuery:
    """Validate `GET /v1/quote`'s query; raise InvalidRequest naming the field and its code."""
    input_mint = _mint(params.get("inputMint"), "inputMint")
    output_mint = _mint(params.get("outputMint"), "outputMint")
    if input_mint == output_mint:
        raise InvalidRequest(
            "inputMint and outputMint are the same token", code="SAME_MINT", field="outputMint"
        )
    if params.get("amount") is None:
        raise InvalidRequest("amount is required", code="INVALID_REQUEST", field="amount")
    raw_amount = (params.get("amount") or "").strip()
    if not raw_amount.isascii() or not raw_amount.isdigit() or len(raw_amount) > _MAX_AMOUNT_DIGITS:
        raise InvalidRequest(
            "amount must be a positive integer of base units, as a string of digits",
            code="INVALID_AMOUNT",
            field="amount",
        )
    amount = int(raw_amount)
    if amount == 0 or amount > U64_MAX:
        raise InvalidRequest(
            "amount must be between 1 and 18446744073709551615 base units",
            code="INVALID_AMOUNT",
            field="amount",
        )
    raw_slippage = (params.get("slippageBps") or "50").strip()
    if not raw_slippage.isascii() or not raw_slippage.isdigit() or len(raw_slippage) > 5:
        raise InvalidRequest(
            "slippageBps must be an integer from 0 to 10000",
            code="INVALID_SLIPPAGE",
            field="slippageBps",
        )
    slippage_bps = int(raw_slippage)
    if slippage_bps > 10_000:
        raise InvalidRequest(
            "slippageBps must be an integer from 0 to 10000",
            code="INVALID_SLIPPAGE",
            field="slippageBps",
        )
    raw_mode = params.get("swapMode") or "ExactIn"
    if raw_mode != SwapMode.EXACT_IN.value:
        raise InvalidRequest(
            "swapMode must be ExactIn (ExactOut is not offered by every source)",
            code="INVALID_SWAP_MODE",
            field="swapMode",
        )
    sources: tuple[str, ...] = QUOTE_SOURCES
    raw_sources = params.get("sources")
    if raw_sources is not None:
        asked = tuple(dict.fromkeys(s.strip().lower() for s in raw_sources.split(",") if s.strip()))
        unknown = [s for s in asked if s not in QUOTE_SOURCES]
        if unknown or not asked:
            raise InvalidRequest(
                f"sources must be a comma list of {', '.join(QUOTE_SOURCES)}",
                code="INVALID_SOURCES",
                field="sources",
            )
        sources = asked
    return QuoteQuery(
        input_mint=input_mint,
        output_mint=output_mint,
        amount=amount,
        slippage_bps=slippage_bps,
        swap_mode=SwapMode.EXACT_IN,
        sources=sources,
    )
