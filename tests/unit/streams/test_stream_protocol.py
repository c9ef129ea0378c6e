"""The pure parts of the gateway: client ops, frames, price formatting, token bucket."""

from __future__ import annotations

import struct

import orjson
import pytest

from solbot.streams import format_price, parse_hermes_event
from solbot.streams._limits import TokenBucket
from solbot.streams._protocol import (
    Auth,
    Channel,
    ErrorCode,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    parse_client_op,
    price_body,
    with_seq,
)
from solbot.streams._wire import text_frame

SOL = "So11111111111111111111111111111111111111112"


def test_subscribe_parses_channel_assets_and_id_and_dedupes() -> None:
    """Assets keep their order; a repeated one counts once."""
    op = parse_client_op(
        orjson.dumps({"op": "subscribe", "channel": "prices", "assets": [SOL, SOL], "id": 1})
    )
    assert op == Subscribe(Channel.PRICES, (SOL,), 1)


def test_private_subscription_without_wallets_means_all_of_them() -> None:
    """`wallets` may be left out of balances/trades (None: every wallet of the user)."""
    op = parse_client_op(b'{"op": "unsubscribe", "channel": "trades", "id": "a"}')
    assert op == Unsubscribe(Channel.TRADES, None, "a")


def test_ping_and_auth_parse_and_auth_hides_its_token() -> None:
    """The token never shows in a repr (and so never in a log line)."""
    assert parse_client_op(b'{"op": "ping"}') == Ping(None)
    auth = parse_client_op(b'{"op": "auth", "token": "sbt_secret", "id": 2}')
    assert isinstance(auth, Auth) and auth.token == "sbt_secret"
    assert "sbt_secret" not in repr(auth)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{", ErrorCode.INVALID_JSON),
        (b"\xff\xfe", ErrorCode.INVALID_JSON),
        (b'"hello"', ErrorCode.INVALID_OP),
        (b'{"op": "ping", "id": [1]}', ErrorCode.INVALID_OP),
        (b'{"op": "ping", "id": true}', ErrorCode.INVALID_OP),
        (b'{"op": "subscribe", "channel": "prices", "assets": "SOL"}', ErrorCode.INVALID_ASSET),
        (b'{"op": "subscribe", "channel": "prices", "assets": [1]}', ErrorCode.INVALID_ASSET),
        (b'{"op": "subscribe", "channel": "prices", "assets": ["0OIl"]}', ErrorCode.INVALID_ASSET),
        (b'{"op": "subscribe", "channel": null}', ErrorCode.INVALID_CHANNEL),
        (b'{"op": "auth", "token": 5}', ErrorCode.UNAUTHORIZED),
    ],
)
def test_bad_operations_are_refused_with_a_code(payload: bytes, code: ErrorCode) -> None:
    """Each kind of bad input maps to one documented error code."""
    with pytest.raises(ProtocolError) as refused:
        parse_client_op(payload)
    assert refused.value.code is code


def test_the_id_is_echoed_in_the_refusal_when_known() -> None:
    """A refused subscribe names the operation it refuses."""
    with pytest.raises(ProtocolError) as refused:
        parse_client_op(b'{"op": "subscribe", "channel": "x", "id": 9}')
    assert refused.value.op_id == 9


def test_seq_is_spliced_into_the_body_as_valid_json() -> None:
    """`with_seq` appends seq to our compact JSON object without re-serializing it."""
    body = price_body(SOL, "147.48", "pyth", 12, 1_700_000_000_000)
    message = orjson.loads(with_seq(body, 42))
    assert message == {
        "type": "price",
        "mint": SOL,
        "price": "147.48",
        "source": "pyth",
        "slot": 12,
        "ts": 1_700_000_000_000,
        "seq": 42,
    }


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_text_frames_follow_rfc6455_length_encoding(size: int) -> None:
    """FIN+text opcode, no mask, 7/16/64-bit lengths at the 126 and 65,536 boundaries."""
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81
    if size < 126:
        assert frame[1] == size and frame[2:] == payload
    elif size < 65_536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size
        assert frame[4:] == payload
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size
        assert frame[10:] == payload


@pytest.mark.parametrize(
    ("price", "expo", "text"),
    [
        (14_748_000_000, -8, "147.48"),
        (100_000_000, -8, "1"),
        (1_234, -8, "0.00001234"),
        (5, 2, "500"),
        (-15, -1, "-1.5"),
    ],
)
def test_oracle_prices_are_formatted_exactly(price: int, expo: int, text: str) -> None:
    """`price * 10**expo` as a decimal string with no float rounding and no trailing zeros."""
    assert format_price(price, expo) == text


def test_hermes_events_yield_feed_price_and_slot_and_skip_bad_entries() -> None:
    """Entries without a usable price are skipped, not fatal."""
    event = orjson.dumps(
        {
            "parsed": [
                {
                    "id": "0xABC",
                    "price": {"price": "2920679499999", "expo": -8},
                    "metadata": {"slot": 9},
                },
                {"id": "def", "price": {"price": "oops", "expo": -8}},
                {"id": "fed", "price": {"price": "-1", "expo": -8}},
                "junk",
            ]
        }
    )
    assert parse_hermes_event(event) == [("abc", "29206.79499999", 9)]


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    """`burst` takes at once, then one per 1/rate seconds."""
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5
    assert bucket.take() and not bucket.take()
    now[0] = 100.0
    assert sum(bucket.take() for _ in range(10)) == 3
