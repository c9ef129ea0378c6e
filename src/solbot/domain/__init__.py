"""Shared value types of solbot. Imports nothing else of solbot."""

from solbot.domain._tokens import KNOWN_TOKENS, Token, resolve_symbol, token_by_mint

__all__ = ["KNOWN_TOKENS", "Token", "resolve_symbol", "token_by_mint"]
