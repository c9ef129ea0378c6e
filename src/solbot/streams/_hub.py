"""The hub: streams, their subscribers, and the one-serialization fan-out.

A message is published once (numbered, stored as the stream's last value, shared over Redis when
configured), turned into one complete WebSocket frame, and that same `bytes` object is written to
the transport of every local subscriber: no per-message task, no await, no per-client copy. The
writes go out in slices of `StreamLimits.fanout_slice` per event-loop turn (the first slice in the
publisher's own turn): a write costs ~10 us of mostly kernel time, so handing one price to 5,000
subscribers in a single callback held the loop ~70 ms, and a burst of such messages well over
100 ms, stalling pings, handshakes and every other stream. Queued fan-outs run oldest first, so
each client still receives its frames in publication order. A client whose transport is full gets
its frames coalesced in its own queue (see `StreamClient`); one that overflows or lags too long is
closed with 1013 and never slows the others down.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from solbot.errors import Unauthorized
from solbot.ops import Metrics, get_logger
from solbot.streams._bus import RedisBus
from solbot.streams._client import Connection, StreamClient
from solbot.streams._limits import StreamLimits, TokenBucket
from solbot.streams._metrics import QUEUE_DEPTH_BUCKETS, StreamMetrics
from solbot.streams._protocol import (
    PRIVATE_CHANNELS,
    Auth,
    Channel,
    ErrorCode,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    ack_frame,
    balance_body,
    error_frame,
    parse_client_op,
    price_body,
    topic_of,
    trade_body,
    with_seq,
)
from solbot.streams._wire import text_frame

__all__ = ["Authenticator", "StreamHub", "WalletLookup"]

_log = get_logger("solbot.streams")

CLOSE_SLOW_CLIENT = 1013
CLOSE_POLICY = 1008
CLOSE_RESTART = 1012
_SWEEP_INTERVAL_S = 0.25
_QUEUE_SAMPLE_EVERY_S = 5.0
_IDLE_TOPIC_LINGER_S = 5.0
_MAX_IDLE_PRIVATE_TOPICS = 50_000
_BUS_TIMEOUT_S = 10.0
# Queued fan-outs looked at when writing to a client: its frames of those go out in one write.
_MERGE_LOOKAHEAD = 16


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


class _HasPubkey(Protocol):
    @property
    def pubkey(self) -> str: ...


class Authenticator(Protocol):
    """Who an API token belongs to (solbot.auth.AuthService); raises Unauthorized otherwise."""

    async def authenticate(self, token: str) -> _HasId: ...


class WalletLookup(Protocol):
    """A user's wallets (the ledger's WalletRepository)."""

    async def wallets_of(self, user_id: str) -> Sequence[_HasPubkey]: ...


class _Topic:
    __slots__ = (
        "activating",
        "active",
        "channel",
        "idle_since",
        "last",
        "name",
        "seq",
        "subscribers",
    )

    def __init__(self, name: str, channel: Channel, active: bool) -> None:
        self.name = name
        self.channel = channel
        # client -> the stream's seq when it joined: its snapshot covers every message up to
        # it, so a fan-out still under way for an older message skips it (no duplicate).
        self.subscribers: dict[StreamClient, int] = {}
        # field (mint; "" for a price) -> (seq, frame): what a new subscriber gets at once.
        self.last: dict[str, tuple[int, bytes]] = {}
        self.seq = 0
        self.active = active
        self.activating: asyncio.Future[None] | None = None
        self.idle_since = 0.0


class _Fanout:
    """One message on its way to the clients its stream had when it was published."""

    __slots__ = ("clients", "coalesce_key", "frame", "next", "seq", "served", "started", "topic")

    def __init__(
        self,
        topic: _Topic,
        seq: int,
        frame: bytes,
        coalesce_key: str | None,
        clients: tuple[StreamClient, ...],
    ) -> None:
        self.topic = topic
        self.seq = seq
        self.frame = frame
        self.coalesce_key = coalesce_key
        self.clients = clients
        self.next = 0  # index of the first client not handled yet
        # Clients an older fan-out already handed this frame to, in the same write as its own.
        self.served: set[StreamClient] | None = None
        self.started = time.perf_counter()


def _due_later(client: StreamClient, later: list[_Fanout]) -> list[_Fanout] | None:
    """The queued fan-outs that still owe `client` their frame, marked as handed out."""
    due: list[_Fanout] | None = None
    for fanout in later:
        joined = fanout.topic.subscribers.get(client)
        if joined is None or joined >= fanout.seq:
            continue
        served = fanout.served
        if served is None:
            served = fanout.served = set()
        elif client in served:
            continue
        served.add(client)
        due = due or []
        due.append(fanout)
    return due


def _last_mode(channel: Channel) -> str:
    if channel is Channel.PRICES:
        return "set"
    if channel is Channel.BALANCES:
        return "hset"
    return "none"


def _now_ms(wall_clock: Callable[[], float]) -> int:
    return int(wall_clock() * 1000)


class StreamHub:
    """Streams of one instance. Publishers call `publish_*`; the gateway calls the rest.

    With `redis` every message goes through Redis (numbered there, so every instance shows the
    same `seq`), and this instance listens only to streams it has subscribers for. Without it
    the hub numbers and delivers in-process (one instance).
    """

    def __init__(
        self,
        *,
        metrics: Metrics,
        limits: StreamLimits | None = None,
        redis: Any | None = None,
        redis_prefix: str = "solbot:",
        auth: Authenticator | None = None,
        wallets: WalletLookup | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        idle_topic_linger_s: float = _IDLE_TOPIC_LINGER_S,
    ) -> None:
        self.limits = limits or StreamLimits()
        self._idle_linger_s = idle_topic_linger_s
        self.metrics = StreamMetrics(metrics)
        self._bus = RedisBus(redis, prefix=redis_prefix) if redis is not None else None
        self._auth = auth
        self._wallets = wallets
        self._clock = clock
        self._wall_clock = wall_clock
        self._topics: dict[str, _Topic] = {}
        self.clients: dict[StreamClient, None] = {}
        self._bus_lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_queue_sample = 0.0
        self._fanouts: deque[_Fanout] = deque()
        self._drain_handle: asyncio.Handle | None = None
        self._all_gone = asyncio.Event()
        self._all_gone.set()
        m = self.metrics
        self._sent = {c: m.messages_sent.labels(c.value) for c in Channel}
        self._sent_control = m.messages_sent.labels("control")
        self._coalesced = m.dropped.labels("coalesced")
        self._subscriptions = {c: m.subscriptions.labels(c.value) for c in Channel}
        self._fanout_duration = m.fanout_duration

    # ---- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the bus reader and the sweeper; a second call (the composition root and the
        stream server both start the hub they share) does nothing."""
        if self._sweeper is not None:
            return
        if self._bus is not None:
            await self._bus.start(self._on_bus_message)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="stream-sweep")

    async def stop(self) -> None:
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None
        self._fanouts.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._bus is not None:
            await self._bus.stop()

    async def wait_all_gone(self) -> None:
        """Until no client is connected."""
        await self._all_gone.wait()

    def close_all(self, code: int, reason: str) -> None:
        """Close every client (graceful shutdown: 1012, clients reconnect with backoff)."""
        for client in list(self.clients):
            self.close(client, code, reason)

    # ---- publishing -------------------------------------------------------------------------

    async def publish_price(
        self, mint: str, price: str, source: str, slot: int | None = None
    ) -> None:
        """A new price of `mint` (a decimal string, as exact as the source sent it)."""
        body = price_body(mint, price, source, slot, _now_ms(self._wall_clock))
        await self._publish(Channel.PRICES, mint, "", body)

    async def publish_balance(self, wallet: str, mint: str, amount: int, slot: int | None) -> None:
        """A wallet's new balance of `mint`, in base units."""
        body = balance_body(wallet, mint, amount, slot, _now_ms(self._wall_clock))
        await self._publish(Channel.BALANCES, wallet, mint, body)

    async def publish_trade(self, wallet: str, trade: Mapping[str, Any]) -> None:
        """A trade event of a wallet (the API's trade JSON)."""
        body = trade_body(wallet, trade, _now_ms(self._wall_clock))
        await self._publish(Channel.TRADES, wallet, "", body)

    def on_trade_event(self, tag: str, trade: Mapping[str, Any]) -> None:
        """A `solbot.trading` TradeEventListener (`wallet:<pubkey>`, trade JSON): publishes it
        in the background, so the trade that announced it never waits for the streams."""
        wallet = tag.removeprefix("wallet:")
        self._spawn(self._publish_trade_logged(wallet, trade))

    async def _publish_trade_logged(self, wallet: str, trade: Mapping[str, Any]) -> None:
        try:
            await self.publish_trade(wallet, trade)
        except Exception as exc:  # the bus is down: the trade itself is recorded anyway
            _log.warning("stream_trade_publish_failed", error=f"{type(exc).__name__}: {exc}"[:200])

    async def _publish(self, channel: Channel, key: str, field: str, body: bytes) -> None:
        name = topic_of(channel, key)
        if self._bus is not None:
            await self._bus.publish(name, field, body, _last_mode(channel))
            return
        topic = self._topic(name, channel)
        self._deliver(topic, topic.seq + 1, field, body)

    def _on_bus_message(self, name: str, seq: int, field: str, body: bytes) -> None:
        topic = self._topics.get(name)
        if topic is None:
            return
        self._deliver(topic, seq, field, body)

    def _topic(self, name: str, channel: Channel | None = None) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            if channel is None:
                channel = Channel(name.partition(":")[0])
            topic = _Topic(name, channel, active=self._bus is None)
            topic.idle_since = self._clock()
            self._topics[name] = topic
        return topic

    def _deliver(self, topic: _Topic, seq: int, field: str, body: bytes) -> None:
        if seq <= topic.seq:
            return  # already seen (a snapshot raced the live stream)
        topic.seq = seq
        frame = text_frame(with_seq(body, seq))
        channel = topic.channel
        coalesce_key: str | None = None
        if channel is not Channel.TRADES:
            topic.last[field] = (seq, frame)
            coalesce_key = f"{topic.name}|{field}"
        if not topic.subscribers:
            return
        self._fanouts.append(_Fanout(topic, seq, frame, coalesce_key, tuple(topic.subscribers)))
        if self._drain_handle is None:
            self._drain()  # nothing queued ahead: the first slice goes out in this turn
        else:
            # A publisher faster than the fan-outs: finish the oldest here, in its own turn,
            # rather than queue without bound (back-pressure, as a synchronous fan-out had).
            limit = self.limits.max_queued_fanouts
            while len(self._fanouts) > limit:
                self._fan_out(self.limits.fanout_slice)

    def _drain(self) -> None:
        """One slice of the queued fan-outs; the rest in a later turn of the loop."""
        self._drain_handle = None
        self._fan_out(self.limits.fanout_slice)
        if self._fanouts:
            self._drain_handle = asyncio.get_running_loop().call_soon(self._drain)

    def _fan_out(self, budget: int) -> None:
        """Up to `budget` clients of the queued fan-outs, oldest message first."""
        queue = self._fanouts
        while queue and budget > 0:
            fanout = queue[0]
            later = list(itertools.islice(queue, 1, 1 + _MERGE_LOOKAHEAD))
            budget -= self._fan_out_slice(fanout, budget, later)
            if fanout.next >= len(fanout.clients):
                queue.popleft()
                self._fanout_duration.observe(time.perf_counter() - fanout.started)

    def _fan_out_slice(self, fanout: _Fanout, budget: int, later: list[_Fanout]) -> int:
        """The next `budget` clients of `fanout`. A client also due messages queued behind it
        (`later`) gets them now, in the same write: a send costs ~10 us of kernel time whatever
        its size, and a burst of popular prices reaches mostly the same clients."""
        start = fanout.next
        end = min(start + budget, len(fanout.clients))
        fanout.next = end
        subscribers = fanout.topic.subscribers
        seq = fanout.seq
        frame = fanout.frame
        coalesce_key = fanout.coalesce_key
        served = fanout.served
        written = 0
        merged: dict[Channel, int] | None = None
        coalesced = 0
        overflowed: list[StreamClient] | None = None
        max_pending = self.limits.max_pending_frames
        for client in fanout.clients[start:end]:
            if served is not None and client in served:
                continue
            joined = subscribers.get(client)
            if joined is None or joined >= seq:
                continue  # left since it was published, or came back and had it in its snapshot
            due = _due_later(client, later) if later else None
            if not client.paused:
                if due:
                    client.write(b"".join([frame, *(f.frame for f in due)]))
                    merged = merged or {}
                    for f in due:
                        merged[f.topic.channel] = merged.get(f.topic.channel, 0) + 1
                else:
                    client.write(frame)
                written += 1
                continue
            if client.closing:
                continue
            before = client.coalesced
            fits = client.enqueue(frame, coalesce_key, max_pending)
            for f in due or ():
                fits = client.enqueue(f.frame, f.coalesce_key, max_pending) and fits
            if not fits:
                overflowed = overflowed or []
                overflowed.append(client)
            elif client.coalesced != before:
                coalesced += client.coalesced - before
        self._sent[fanout.topic.channel].inc(written)
        if merged:
            for channel, count in merged.items():
                self._sent[channel].inc(count)
        if coalesced:
            self._coalesced.inc(coalesced)
        if overflowed:
            for client in overflowed:
                self._close_slow(client, "queue overflow")
        return end - start

    # ---- connections ------------------------------------------------------------------------

    def connect(self, connection: Connection) -> StreamClient:
        client = StreamClient(connection)
        client.next_ping_at = self._clock() + self.limits.ping_interval_s
        self.clients[client] = None
        self._all_gone.clear()
        self.metrics.connections.inc()
        return client

    def disconnected(self, client: StreamClient) -> None:
        """The transport is gone: forget the client and free everything it held."""
        if self.clients.pop(client, 0) is None:
            self.metrics.connections.dec()
            if not self.clients:
                self._all_gone.set()
        client.closing = True
        self._drop_subscriptions(client, list(client.subscriptions))
        client.drop_pending()
        client.ops = None

    def close(self, client: StreamClient, code: int, reason: str) -> None:
        if client.closing:
            return
        client.closing = True
        self._drop_subscriptions(client, list(client.subscriptions))
        client.drop_pending()
        client.connection.close(code, reason)

    def _close_slow(self, client: StreamClient, why: str) -> None:
        if client.closing:
            return
        self.metrics.dropped.labels("slow_client").inc(client.pending() or 1)
        _log.info("stream_client_slow", reason=why, pending=client.pending())
        self.close(client, CLOSE_SLOW_CLIENT, f"slow consumer: {why}")

    def paused(self, client: StreamClient) -> None:
        if not client.paused:
            client.paused = True
            client.paused_since = self._clock()

    def resumed(self, client: StreamClient) -> None:
        client.paused = False
        client.flush()
        if not client.paused:
            client.coalesced = 0

    def pong(self, client: StreamClient) -> None:
        client.ping_sent_at = None
        client.next_ping_at = self._clock() + self.limits.ping_interval_s

    # ---- client operations ------------------------------------------------------------------

    def receive(self, client: StreamClient, payload: bytes) -> None:
        """One text frame from a client. Pings are answered at once; the rest in order."""
        if client.closing:
            return
        bucket = client.ops_bucket
        if bucket is None:
            bucket = client.ops_bucket = TokenBucket(
                self.limits.ops_per_s, self.limits.ops_burst, self._clock
            )
        assert isinstance(bucket, TokenBucket)
        if not bucket.take():
            self._refuse(client, ProtocolError(ErrorCode.RATE_LIMITED, "too many operations"))
            return
        if client.ops is not None or client.ops_running:
            if client.ops is None:
                client.ops = deque()
            client.ops.append(payload)
            return
        try:
            op = parse_client_op(payload)
        except ProtocolError as refused:
            self._refuse(client, refused)
            return
        if isinstance(op, Ping):
            self._send_control(client, ack_frame("pong", op.id))
            return
        client.ops_running = True
        self._spawn(self._run_ops(client, op))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_ops(self, client: StreamClient, first: Subscribe | Unsubscribe | Auth) -> None:
        op: Any = first
        try:
            while not client.closing:
                if op is not None:
                    try:
                        await self._handle(client, op)
                    except ProtocolError as refused:
                        self._refuse(client, refused)
                queued = client.ops
                if not queued:
                    client.ops = None
                    return
                try:
                    op = parse_client_op(queued.popleft())
                except ProtocolError as refused:
                    self._refuse(client, refused)
                    op = None
                    continue
                if isinstance(op, Ping):
                    self._send_control(client, ack_frame("pong", op.id))
                    op = None
        except Exception:  # a bug or an outage must not kill the gateway: tell the client
            _log.exception("stream_op_failed")
            self._send_control(
                client, error_frame(ErrorCode.UNAVAILABLE, "temporarily unavailable", None)
            )
        finally:
            client.ops_running = False

    async def _handle(self, client: StreamClient, op: Subscribe | Unsubscribe | Auth) -> None:
        if isinstance(op, Auth):
            await self._authenticate(client, op)
        elif isinstance(op, Subscribe):
            await self._subscribe(client, op)
        else:
            await self._unsubscribe(client, op)

    def _send_control(self, client: StreamClient, payload: bytes) -> None:
        if client.closing:
            return
        if not client.send(text_frame(payload), None, self.limits.max_pending_frames):
            self._close_slow(client, "queue overflow")
            return
        self._sent_control.inc()

    def _refuse(self, client: StreamClient, refused: ProtocolError) -> None:
        self._send_control(client, error_frame(refused.code, refused.message, refused.op_id))
        client.invalid_frames += 1
        if client.invalid_frames > self.limits.max_invalid_frames and not client.closing:
            self.metrics.dropped.labels("invalid_frames").inc()
            self.close(client, CLOSE_POLICY, "too many invalid frames")

    async def _authenticate(self, client: StreamClient, op: Auth) -> None:
        if self._auth is None:
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, "this gateway has no private channels", op.id
            )
        try:
            async with asyncio.timeout(self.limits.auth_timeout_s):
                user = await self._auth.authenticate(op.token)
        except Unauthorized:
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, "invalid or revoked API token", op.id
            ) from None
        except TimeoutError:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "authentication timed out", op.id) from None
        if client.user_id is not None and client.user_id != user.id:
            private = [t for t in client.subscriptions if not t.startswith("prices:")]
            self._drop_subscriptions(client, private)
        client.user_id = user.id
        client.invalid_frames = max(0, client.invalid_frames - 1)
        self._send_control(client, ack_frame("authenticated", op.id, userId=user.id))

    async def _private_keys(
        self, client: StreamClient, op: Subscribe | Unsubscribe
    ) -> tuple[str, ...]:
        if client.user_id is None:
            raise ProtocolError(
                ErrorCode.AUTH_REQUIRED, f"`{op.channel.value}` needs an `auth` first", op.id
            )
        if self._wallets is None:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "private channels are unavailable", op.id)
        async with asyncio.timeout(self.limits.auth_timeout_s):
            owned = {w.pubkey for w in await self._wallets.wallets_of(client.user_id)}
        if op.keys is None:
            return tuple(sorted(owned))
        foreign = [k for k in op.keys if k not in owned]
        if foreign:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"not your wallet: {foreign[0]}", op.id)
        return op.keys

    async def _subscribe(self, client: StreamClient, op: Subscribe) -> None:
        keys = op.keys
        if op.channel in PRIVATE_CHANNELS:
            keys = await self._private_keys(client, op)
        assert keys is not None
        names = [topic_of(op.channel, k) for k in keys]
        new = [n for n in names if n not in client.subscriptions]
        if len(client.subscriptions) + len(new) > self.limits.max_subscriptions:
            raise ProtocolError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self.limits.max_subscriptions} subscriptions per connection",
                op.id,
            )
        client.subscriptions.update(new)
        try:
            topics = [self._topic(n, op.channel) for n in new]
            # Started here, synchronously, so the sweeper never retires a stream being opened.
            pending = [f for f in (self._ensure_active(t) for t in topics) if f is not None]
            if pending:
                async with asyncio.timeout(_BUS_TIMEOUT_S):
                    await asyncio.gather(*(asyncio.shield(f) for f in pending))
        except Exception:
            client.subscriptions.difference_update(new)
            _log.warning("stream_subscribe_unavailable", channel=op.channel.value)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "the stream bus did not answer; retry", op.id
            ) from None
        if client.closing:
            return
        field = "assets" if op.channel is Channel.PRICES else "wallets"
        self._send_control(
            client, ack_frame("subscribed", op.id, channel=op.channel.value, **{field: list(keys)})
        )
        gauge = self._subscriptions[op.channel]
        max_pending = self.limits.max_pending_frames
        for topic in topics:
            topic.subscribers[client] = topic.seq
            gauge.inc()
            for field_name, (_seq, frame) in topic.last.items():
                if not client.send(frame, f"{topic.name}|{field_name}", max_pending):
                    self._close_slow(client, "queue overflow")
                    return
                self._sent[topic.channel].inc()

    async def _unsubscribe(self, client: StreamClient, op: Unsubscribe) -> None:
        keys = op.keys
        if keys is None:
            keys = tuple(
                t.partition(":")[2] for t in client.subscriptions if t.startswith(f"{op.channel}:")
            )
        names = [topic_of(op.channel, k) for k in keys]
        self._drop_subscriptions(client, [n for n in names if n in client.subscriptions])
        field = "assets" if op.channel is Channel.PRICES else "wallets"
        self._send_control(
            client,
            ack_frame("unsubscribed", op.id, channel=op.channel.value, **{field: list(keys)}),
        )

    def _drop_subscriptions(self, client: StreamClient, names: list[str]) -> None:
        now = self._clock()
        for name in names:
            client.subscriptions.discard(name)
            topic = self._topics.get(name)
            if topic is not None and topic.subscribers.pop(client, None) is not None:
                self._subscriptions[topic.channel].dec()
                if not topic.subscribers:
                    topic.idle_since = now

    def _ensure_active(self, topic: _Topic) -> asyncio.Future[None] | None:
        """Listen to a stream on the bus and load its last value, once for all waiters."""
        if topic.active:
            return None
        if topic.activating is None:
            task = asyncio.get_running_loop().create_task(self._load(topic))
            topic.activating = task
            # Consumed here so that a failure every waiter saw is not reported again.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return topic.activating

    async def _load(self, topic: _Topic) -> None:
        assert self._bus is not None
        try:
            # The lock keeps SUBSCRIBE/UNSUBSCRIBE of one channel in order; the confirmation is
            # awaited outside it so that a burst of new streams shares one round trip.
            async with self._bus_lock:
                confirmed = await self._bus.subscribe(topic.name)
            await confirmed.wait()
            last_mode = _last_mode(topic.channel)
            for seq, field, body in await self._bus.snapshot(topic.name, last_mode):
                known = topic.last.get(field)
                if known is None or known[0] < seq:
                    topic.last[field] = (seq, text_frame(with_seq(body, seq)))
                topic.seq = max(topic.seq, seq)
            topic.active = True
        finally:
            topic.activating = None
            topic.idle_since = self._clock()

    async def _deactivate(self, name: str) -> None:
        assert self._bus is not None
        async with self._bus_lock:
            if name in self._topics:
                return  # opened again meanwhile: keep listening
            await self._bus.unsubscribe(name)

    # ---- housekeeping -----------------------------------------------------------------------

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL_S)
            try:
                self.sweep(self._clock())
            except Exception:
                _log.exception("stream_sweep_failed")

    def sweep(self, now: float) -> None:
        """Keepalive pings, dead and slow clients, idle streams, queue-depth sampling."""
        limits = self.limits
        for client in tuple(self.clients):
            if client.closing:
                continue
            if client.paused and now - client.paused_since > limits.slow_client_timeout_s:
                self._close_slow(client, "lagged too long")
                continue
            sent_at = client.ping_sent_at
            if sent_at is not None:
                if now - sent_at > limits.ping_timeout_s:
                    # A peer that vanished without a close frame: nothing will reach it, so drop
                    # the socket at once and free its memory.
                    self.metrics.dropped.labels("keepalive_timeout").inc()
                    client.closing = True
                    self._drop_subscriptions(client, list(client.subscriptions))
                    client.drop_pending()
                    client.connection.abort()
            elif now >= client.next_ping_at:
                client.ping_sent_at = now
                client.connection.ping()
        self._retire_idle_topics(now)
        if now >= self._next_queue_sample:
            self._next_queue_sample = now + _QUEUE_SAMPLE_EVERY_S
            self._sample_queues()

    def _retire_idle_topics(self, now: float) -> None:
        idle_private = 0
        for topic in tuple(self._topics.values()):
            if topic.subscribers or topic.activating is not None:
                continue
            if self._bus is not None:
                if now - topic.idle_since > self._idle_linger_s:
                    del self._topics[topic.name]
                    if topic.active:
                        topic.active = False
                        self._spawn(self._deactivate(topic.name))
            elif topic.channel is not Channel.PRICES:
                idle_private += 1
                if idle_private > _MAX_IDLE_PRIVATE_TOPICS:
                    del self._topics[topic.name]

    def _sample_queues(self) -> None:
        counts = dict.fromkeys((label for label, _ in QUEUE_DEPTH_BUCKETS), 0)
        buffered = 0
        for client in self.clients:
            depth = client.pending()
            for label, upper in QUEUE_DEPTH_BUCKETS:
                if depth <= upper:
                    counts[label] += 1
                    break
            if client.paused:
                buffered += client.connection.buffered_bytes()
        for label, count in counts.items():
            self.metrics.queue_depth.labels(label).set(count)
        self.metrics.buffered_bytes.set(buffered)
