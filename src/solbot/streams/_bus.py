"""Fan-out across instances over Redis pub/sub, with the last value per stream kept for snapshots.

Every message goes through one Lua script that numbers it (`INCR`, so `seq` is the same on
every instance whichever one published), stores it as the stream's last value (a key, or a hash
field per mint for balances) and publishes it. Each instance listens only to the streams it has
local subscribers for. Keys carry a `{hash tag}` so a stream's keys share a Redis Cluster slot.

A message on the wire is `<seq>\\n<coalesce key>\\n<body JSON without seq>`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from solbot.ops import get_logger

__all__ = ["BusMessage", "RedisBus"]

_log = get_logger("solbot.streams.bus")

BusMessage = tuple[int, str, bytes]  # seq, coalesce key, body without seq
OnMessage = Callable[[str, int, str, bytes], None]  # topic, seq, key, body

_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
local msg = seq .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[1]
if ARGV[3] == 'set' then
  redis.call('SET', KEYS[2], msg, 'EX', ARGV[4])
elseif ARGV[3] == 'hset' then
  redis.call('HSET', KEYS[2], ARGV[2], msg)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('PUBLISH', KEYS[3], msg)
return seq
"""

_LAST_TTL_S = 86_400
_PRIVATE_SEQ_TTL_S = 30 * 86_400
_COMMAND_TIMEOUT_S = 2.0
_RECONNECT_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0)


def _parse(raw: bytes) -> BusMessage | None:
    try:
        seq, key, body = raw.split(b"\n", 2)
        return int(seq), key.decode(), body
    except ValueError:
        return None


class RedisBus:
    """One instance's link to the shared stream bus. `start()` before use, `stop()` after."""

    def __init__(self, redis: Any, *, prefix: str = "solbot:") -> None:
        self._redis = redis
        self._prefix = f"{prefix}stream:"
        self._script = redis.register_script(_PUBLISH)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self._wanted: set[str] = set()
        self._on_message: OnMessage | None = None

    def _channel(self, topic: str) -> str:
        return f"{self._prefix}{topic}"

    def _key(self, topic: str, suffix: str) -> str:
        return f"{self._prefix}{{{topic}}}:{suffix}"

    async def start(self, on_message: OnMessage) -> None:
        if self._reader is not None:
            # A second reader would share (and, on stop, lose) the first one's PubSub.
            raise RuntimeError("the stream bus is already started")
        self._on_message = on_message
        self._pubsub = self._redis.pubsub()
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="stream-bus")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def publish(self, topic: str, coalesce_key: str, body: bytes, last: str) -> int:
        """Number, store (`last`: 'set', 'hset' or 'none') and publish one message; its seq."""
        private = not topic.startswith("prices:")
        async with asyncio.timeout(_COMMAND_TIMEOUT_S):
            seq = await self._script(
                keys=[self._key(topic, "seq"), self._key(topic, "last"), self._channel(topic)],
                args=[body, coalesce_key, last, _LAST_TTL_S, _PRIVATE_SEQ_TTL_S if private else 0],
            )
        return int(seq)

    async def snapshot(self, topic: str, last: str) -> list[BusMessage]:
        """The stored last value(s) of a stream."""
        if last == "none":
            return []
        async with asyncio.timeout(_COMMAND_TIMEOUT_S):
            if last == "set":
                raw = await self._redis.get(self._key(topic, "last"))
                values = [] if raw is None else [raw]
            else:
                values = list((await self._redis.hgetall(self._key(topic, "last"))).values())
        parsed = [_parse(v) for v in values]
        return [m for m in parsed if m is not None]

    async def subscribe(self, topic: str) -> asyncio.Event:
        """Send SUBSCRIBE; the returned event is set once Redis confirmed it, after which no
        message of the stream can be missed."""
        channel = self._channel(topic)
        self._wanted.add(channel)
        confirmed = self._confirmed.setdefault(channel, asyncio.Event())
        async with asyncio.timeout(_COMMAND_TIMEOUT_S):
            await self._pubsub.subscribe(channel)
        return confirmed

    async def unsubscribe(self, topic: str) -> None:
        channel = self._channel(topic)
        self._wanted.discard(channel)
        self._confirmed.pop(channel, None)
        with contextlib.suppress(Exception):
            await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: back off, resubscribe what we want
                delay = _RECONNECT_BACKOFF_S[min(failures, len(_RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                _log.warning("stream_bus_read_failed", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                with contextlib.suppress(Exception):
                    if self._wanted:
                        await self._pubsub.subscribe(*self._wanted)
                continue
            if message is None:
                continue
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not isinstance(channel, str):
            return
        if kind == "subscribe":
            event = self._confirmed.get(channel)
            if event is not None:
                event.set()
            return
        if kind != "message" or self._on_message is None:
            return
        parsed = _parse(message["data"])
        if parsed is None:
            _log.warning("stream_bus_malformed", channel=channel)
            return
        seq, key, body = parsed
        self._on_message(channel.removeprefix(self._prefix), seq, key, body)
