"""Known tokens at their real mainnet mint addresses, with decimals and Pyth feed ids."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KNOWN_TOKENS", "Token", "resolve_symbol", "token_by_mint"]


@dataclass(frozen=True, slots=True)
class Token:
    symbol: str
    mint: str
    decimals: int
    pyth_feed_id: str | None  # hex, no 0x: the USD feed on Pyth Hermes


KNOWN_TOKENS: tuple[Token, ...] = (
    Token(
        "SOL",
        "So11111111111111111111111111111111111111112",
        9,
        "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
    ),
    Token(
        "USDC",
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        6,
        "eaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a",
    ),
    Token(
        "USDT",
        "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB",
        6,
        "2b89b9dc8fdf9f34709a5b106b472f0f39bb6ca9ce04b0fd7f2e971688e2e53b",
    ),
    Token(
        "BONK",
        "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263",
        5,
        "72b021217ca3fe68922a19aaf990109cb9d84e9ad004b4d2025ad6f529314419",
    ),
    Token(
        "JUP",
        "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
        6,
        "0a0408d619e9380abad35060f9192039ed5042fa6f82301d0e48bb52be830996",
    ),
    Token(
        "WIF",
        "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm",
        6,
        "4ca4beeca86f0d164160323817a4e42b10010a724c2217c6ee41b54cd4cc61fc",
    ),
)

_BY_SYMBOL = {t.symbol: t for t in KNOWN_TOKENS} | {"WSOL": KNOWN_TOKENS[0]}
_BY_MINT = {t.mint: t for t in KNOWN_TOKENS}


def resolve_symbol(symbol_or_mint: str) -> str:
    """The mint for a known symbol (case-insensitive), or the input unchanged."""
    token = _BY_SYMBOL.get(symbol_or_mint.upper())
    return token.mint if token is not None else symbol_or_mint


def token_by_mint(mint: str) -> Token | None:
    return _BY_MINT.get(mint)
