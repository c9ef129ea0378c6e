"""What the simulated venues share: fast JSON responses, query/body parsing, priority fees."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from solders.pubkey import Pubkey
from starlette.requests import Request
from starlette.responses import Response

from solbot.sim.market import BuiltSwap, Market

__all__ = [
    "FastJSON",
    "PriorityFee",
    "VenueInputError",
    "parse_bool",
    "parse_mint",
    "parse_u64",
    "read_json_body",
    "request_id",
    "swap_response_fields",
]

_U64_MAX = 2**64 - 1
_AUTO_CAP_LAMPORTS = 5_000_000  # "auto" priority fees are capped at 0.005 SOL
_LEVEL_PERCENTILES = {"medium": 25, "high": 50, "veryHigh": 75}


class FastJSON(Response):
    """A JSON response rendered with orjson (the venues answer thousands of quotes a second)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class VenueInputError(ValueError):
    """Bad input; `code` is the venue's own error code when it has one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def request_id() -> str:
    return os.urandom(16).hex()


def parse_mint(value: str | None, name: str) -> str:
    if value is None or value == "":
        raise VenueInputError(f"Query deserialize error: missing field `{name}`")
    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise VenueInputError(f"Query parameter {name} cannot be parsed: invalid pubkey") from None


def parse_pubkey(value: Any, name: str) -> Pubkey:
    if not isinstance(value, str):
        raise VenueInputError(f"{name} must be a base58 public key")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise VenueInputError(f"{name} is not a valid public key: {value}") from None


def parse_u64(value: Any, name: str, *, required: bool = True, default: int = 0) -> int:
    """An unsigned integer from a query string or a JSON string/number."""
    if value is None or value == "":
        if required:
            raise VenueInputError(f"Query deserialize error: missing field `{name}`")
        return default
    if isinstance(value, bool):
        raise VenueInputError(f"{name} must be an unsigned integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise VenueInputError(f"{name} must be an unsigned integer, got {value!r}")
    if not 0 <= number <= _U64_MAX:
        raise VenueInputError(f"{name} is out of range")
    return number


def parse_bool(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    if value in ("true", "false"):
        return value == "true"
    raise VenueInputError(f"ParseBoolError: {name} must be true or false")


async def read_json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise VenueInputError("Failed to parse the request body as JSON") from None
    if not isinstance(body, dict):
        raise VenueInputError("The request body must be a JSON object")
    return body


@dataclass(frozen=True, slots=True)
class PriorityFee:
    """How a swap request asked to pay for priority, resolved to a CU price."""

    unit_price_micro_lamports: int
    estimated_micro_lamports: int
    jito_tip_lamports: int = 0

    @staticmethod
    def resolve(
        market: Market,
        body: Mapping[str, Any],
        *,
        writable: list[Pubkey],
        unit_limit: int,
        jito_allowed: bool,
    ) -> PriorityFee:
        """Resolve `computeUnitPriceMicroLamports` / `prioritizationFeeLamports` of a request."""
        unit_price = body.get("computeUnitPriceMicroLamports")
        fee = body.get("prioritizationFeeLamports")
        estimate = market.priority_fee_estimate(writable, 50)
        if unit_price is not None and fee is not None:
            raise VenueInputError(
                "computeUnitPriceMicroLamports and prioritizationFeeLamports are exclusive",
                "both",
            )
        if unit_price is not None:
            return PriorityFee(parse_u64(unit_price, "computeUnitPriceMicroLamports"), estimate)
        if fee is None or fee == "auto":
            capped = min(estimate, _AUTO_CAP_LAMPORTS * 1_000_000 // unit_limit)
            return PriorityFee(capped, estimate)
        if fee == "disabled":
            return PriorityFee(0, estimate)
        if isinstance(fee, int) and not isinstance(fee, bool):
            return PriorityFee(
                parse_u64(fee, "prioritizationFeeLamports") * 1_000_000 // unit_limit, estimate
            )
        if isinstance(fee, dict):
            if "priorityLevelWithMaxLamports" in fee:
                spec = fee["priorityLevelWithMaxLamports"]
                if (
                    not isinstance(spec, dict)
                    or spec.get("priorityLevel") not in _LEVEL_PERCENTILES
                ):
                    raise VenueInputError("priorityLevel must be medium, high or veryHigh")
                cap = parse_u64(spec.get("maxLamports"), "maxLamports")
                level = market.priority_fee_estimate(
                    writable, _LEVEL_PERCENTILES[spec["priorityLevel"]]
                )
                return PriorityFee(min(level, cap * 1_000_000 // unit_limit), level)
            if "lamports" in fee:
                lamports = parse_u64(fee["lamports"], "lamports")
                return PriorityFee(lamports * 1_000_000 // unit_limit, estimate)
            if "autoMultiplier" in fee:
                multiplier = parse_u64(fee["autoMultiplier"], "autoMultiplier")
                capped = min(estimate * multiplier, _AUTO_CAP_LAMPORTS * 1_000_000 // unit_limit)
                return PriorityFee(capped, estimate)
            if jito_allowed and "jitoTipLamports" in fee:
                return PriorityFee(
                    0, estimate, parse_u64(fee["jitoTipLamports"], "jitoTipLamports")
                )
            if jito_allowed and "jitoTipLamportsWithPayer" in fee:
                spec = fee["jitoTipLamportsWithPayer"]
                tip = spec.get("lamports") if isinstance(spec, dict) else None
                return PriorityFee(0, estimate, parse_u64(tip, "lamports"))
        raise VenueInputError(f"prioritizationFeeLamports cannot be parsed: {fee!r}")


def swap_response_fields(built: BuiltSwap, priority: PriorityFee) -> dict[str, Any]:
    """The fields Jupiter's and DFlow's /swap answers share."""
    if priority.jito_tip_lamports:
        prioritization_type: dict[str, Any] = {"jito": {"lamports": priority.jito_tip_lamports}}
        fee_lamports = priority.jito_tip_lamports
    else:
        prioritization_type = {
            "computeBudget": {
                "microLamports": priority.unit_price_micro_lamports,
                "estimatedMicroLamports": priority.estimated_micro_lamports,
            }
        }
        fee_lamports = built.prioritization_fee_lamports
    return {
        "swapTransaction": base64.b64encode(bytes(built.transaction)).decode(),
        "lastValidBlockHeight": built.last_valid_block_height,
        "prioritizationFeeLamports": fee_lamports,
        "computeUnitLimit": built.compute_unit_limit,
        "prioritizationType": prioritization_type,
    }


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of a route plan posted back to /swap: pool key, mints, amounts."""

    pool_key: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int


def check_plan(
    steps: list[PlannedStep], input_mint: str, output_mint: str, in_amount: int, out_amount: int
) -> None:
    """The steps must chain from (input_mint, in_amount) to (output_mint, out_amount)."""
    if not steps:
        raise VenueInputError("the route plan is empty", "route_is_empty")
    if steps[0].input_mint != input_mint or steps[-1].output_mint != output_mint:
        raise VenueInputError("the route plan does not go from inputMint to outputMint", "leg")
    if steps[0].in_amount != in_amount or steps[-1].out_amount != out_amount:
        raise VenueInputError(
            "the route plan does not consume inAmount or produce outAmount", "amount"
        )
    for left, right in itertools.pairwise(steps):
        if left.output_mint != right.input_mint or left.out_amount != right.in_amount:
            raise VenueInputError("the route plan's legs do not chain", "leg")
