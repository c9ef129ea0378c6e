"""The `/v1/stream` wire protocol, pure: client operations in, server frames out.

Client to server (JSON text frames):
    {"op": "subscribe",   "channel": "prices",   "assets": ["<mint>", ...], "id": 1}
    {"op": "subscribe",   "channel": "balances", "wallets": ["<pubkey>", ...], "id": 2}
    {"op": "unsubscribe", ...the same shapes...}
    {"op": "ping", "id": 7}
    {"op": "auth", "token": "sbt_...", "id": 3}
`wallets` may be left out of a private subscription: it then means every wallet of the user.

Server to client:
    {"type": "price", "mint", "price", "source", "slot", "ts", "seq"}
    {"type": "balance", "wallet", "mint", "amount", "slot", "ts", "seq"}
    {"type": "trade", "wallet", "trade": {...}, "ts", "seq"}
    {"type": "subscribed" | "unsubscribed", "id", "channel", "assets" | "wallets"}
    {"type": "pong", "id"}, {"type": "authenticated", "id", "userId"}
    {"type": "error", "code", "message", "id"}

`price` is a decimal string (an oracle mark, exact as the source sent it); `amount` is a string
of base-unit digits (a u64 does not fit a JavaScript number); `ts` is the publish time in Unix
milliseconds; `seq` increases by one per published message of a stream (one mint's prices, one
wallet's balances or trades), so a gap tells the client that coalescing skipped stale values.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "PRIVATE_CHANNELS",
    "Auth",
    "Channel",
    "ErrorCode",
    "Ping",
    "ProtocolError",
    "Subscribe",
    "Unsubscribe",
    "ack_frame",
    "balance_body",
    "error_frame",
    "parse_client_op",
    "price_body",
    "topic_of",
    "trade_body",
    "with_seq",
]

# Base58 public keys: 32 bytes encode to 32..44 characters.
_PUBKEY = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_MAX_ID_CHARS = 64
_MAX_TOKEN_CHARS = 256
MessageId = int | str | None


class Channel(enum.StrEnum):
    PRICES = "prices"
    BALANCES = "balances"
    TRADES = "trades"


PRIVATE_CHANNELS = frozenset({Channel.BALANCES, Channel.TRADES})


class ErrorCode(enum.StrEnum):
    INVALID_JSON = "INVALID_JSON"
    INVALID_OP = "INVALID_OP"
    INVALID_CHANNEL = "INVALID_CHANNEL"
    INVALID_ASSET = "INVALID_ASSET"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"


class ProtocolError(Exception):
    """A client operation the gateway refuses: answered with an error frame."""

    def __init__(self, code: ErrorCode, message: str, op_id: MessageId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.op_id = op_id


@dataclass(frozen=True, slots=True)
class Subscribe:
    channel: Channel
    keys: tuple[str, ...] | None  # mints or wallets; None: every wallet of the user
    id: MessageId


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channel: Channel
    keys: tuple[str, ...] | None
    id: MessageId


@dataclass(frozen=True, slots=True)
class Ping:
    id: MessageId


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    id: MessageId

    def __repr__(self) -> str:
        return f"Auth(token=[redacted], id={self.id!r})"


ClientOp = Subscribe | Unsubscribe | Ping | Auth


def _op_id(message: Mapping[str, Any]) -> MessageId:
    value = message.get("id")
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and len(value) <= _MAX_ID_CHARS:
        return value
    raise ProtocolError(ErrorCode.INVALID_OP, "id must be an integer or a short string")


def _keys(message: Mapping[str, Any], channel: Channel, op_id: MessageId) -> tuple[str, ...] | None:
    field = "assets" if channel is Channel.PRICES else "wallets"
    raw = message.get(field)
    if raw is None and channel is not Channel.PRICES:
        return None
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(
            ErrorCode.INVALID_ASSET, f"`{field}` must be a non-empty list of addresses", op_id
        )
    keys: list[str] = []
    for key in raw:
        if not isinstance(key, str) or _PUBKEY.fullmatch(key) is None:
            shown = key[:48] if isinstance(key, str) else type(key).__name__
            raise ProtocolError(
                ErrorCode.INVALID_ASSET, f"`{field}` holds an invalid address: {shown!r}", op_id
            )
        keys.append(key)
    return tuple(dict.fromkeys(keys))


def parse_client_op(payload: bytes | str) -> ClientOp:
    """One client frame as an operation; ProtocolError naming what is wrong otherwise."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "the frame is not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.INVALID_OP, "a frame must be a JSON object")
    op_id = _op_id(message)
    op = message.get("op")
    if op == "ping":
        return Ping(op_id)
    if op == "auth":
        token = message.get("token")
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "`token` must be an API token", op_id)
        return Auth(token, op_id)
    if op in ("subscribe", "unsubscribe"):
        try:
            channel = Channel(str(message.get("channel")))
        except ValueError:
            raise ProtocolError(
                ErrorCode.INVALID_CHANNEL,
                "`channel` must be one of prices, balances, trades",
                op_id,
            ) from None
        keys = _keys(message, channel, op_id)
        if op == "subscribe":
            return Subscribe(channel, keys, op_id)
        return Unsubscribe(channel, keys, op_id)
    raise ProtocolError(
        ErrorCode.INVALID_OP, "`op` must be one of subscribe, unsubscribe, ping, auth", op_id
    )


def topic_of(channel: Channel, key: str) -> str:
    """The name of one stream: `prices:<mint>`, `balances:<wallet>`, `trades:<wallet>`."""
    return f"{channel.value}:{key}"


def price_body(mint: str, price: str, source: str, slot: int | None, ts_ms: int) -> bytes:
    """A price message without its `seq` (added by whoever numbers the stream)."""
    return orjson.dumps(
        {"type": "price", "mint": mint, "price": price, "source": source, "slot": slot, "ts": ts_ms}
    )


def balance_body(wallet: str, mint: str, amount: int, slot: int | None, ts_ms: int) -> bytes:
    return orjson.dumps(
        {
            "type": "balance",
            "wallet": wallet,
            "mint": mint,
            "amount": str(amount),
            "slot": slot,
            "ts": ts_ms,
        }
    )


def trade_body(wallet: str, trade: Mapping[str, Any], ts_ms: int) -> bytes:
    return orjson.dumps({"type": "trade", "wallet": wallet, "trade": trade, "ts": ts_ms})


def with_seq(body: bytes, seq: int) -> bytes:
    """`{...}` -> `{...,"seq":N}` without parsing: the body is our own compact JSON object."""
    return b'%s,"seq":%d}' % (body[:-1], seq)


def ack_frame(kind: str, op_id: MessageId, **fields: Any) -> bytes:
    return orjson.dumps({"type": kind, "id": op_id, **fields})


def error_frame(code: ErrorCode, message: str, op_id: MessageId) -> bytes:
    return orjson.dumps({"type": "error", "code": code.value, "message": message, "id": op_id})
