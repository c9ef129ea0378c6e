"""Lenient readers for venue JSON: strict about the fields a decision needs, blind to the rest.

Unknown fields are ignored, nullable ones may be null or absent; a required field that is
missing or of the wrong type raises `Malformed`, which the adapter turns into UpstreamRejected.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from solbot.domain import RouteLeg

__all__ = [
    "Malformed",
    "count_hops",
    "opt_decimal",
    "opt_int",
    "opt_number",
    "opt_str",
    "req_base64",
    "req_list",
    "req_mapping",
    "req_str",
    "req_u64",
]

_U64_MAX = 2**64 - 1


class Malformed(ValueError):
    """A venue answer that lacks a field we need, or carries it with the wrong type."""


def req_mapping(obj: Any, key: str | None = None) -> Mapping[str, Any]:
    value = obj if key is None else _get(obj, key)
    if type(value) is not dict and not isinstance(value, Mapping):
        raise Malformed(f"{key or 'body'} is not an object")
    return value


def req_list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = _get(obj, key)
    if not isinstance(value, list):
        raise Malformed(f"{key} is not a list")
    return value


def req_str(obj: Mapping[str, Any], key: str) -> str:
    value = _get(obj, key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{key} is not a non-empty string")
    return value


def opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed(f"{key} is not a string")
    return value


def req_u64(obj: Mapping[str, Any], key: str) -> int:
    """A u64 sent as a decimal string (the venues' habit) or as a JSON integer."""
    value = _u64(_get(obj, key), key)
    if value is None:
        raise Malformed(f"{key} is null")
    return value


def opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    return _u64(obj.get(key), key)


def opt_number(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{key} is not a number")
    return float(value)


def opt_decimal(obj: Mapping[str, Any], key: str) -> Decimal | None:
    """A decimal sent as a string or a number; null, absent or unreadable reads as unknown."""
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def req_base64(obj: Mapping[str, Any], key: str) -> bytes:
    return decode_base64(req_str(obj, key), key)


def decode_base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"{what} is not base64") from None


def count_hops(legs: Iterable[RouteLeg]) -> int:
    """Sequential steps of a route: legs that split one step across pools count once."""
    return len({(leg.input_mint, leg.output_mint) for leg in legs})


def _get(obj: Any, key: str) -> Any:
    # `type(...) is dict` first: parsed JSON is dicts, and an ABC check costs several times more
    # (a quote's parse makes ~20 of these).
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise Malformed(f"expected an object holding {key}")
    try:
        return obj[key]
    except KeyError:
        raise Malformed(f"{key} is missing") from None


def _u64(value: Any, key: str) -> int | None:
    if isinstance(value, str):  # the venues' habit first
        if not (value.isascii() and value.isdigit()):
            raise Malformed(f"{key} is not an integer")
        number = int(value)
    elif value is None:
        return None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise Malformed(f"{key} is not an integer")
    if not 0 <= number <= _U64_MAX:
        raise Malformed(f"{key} is out of range")
    return number
