"""The hub's fan-out and slow-client policy with fake transports and a fake clock."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from solbot.ops import Metrics
from solbot.streams import StreamHub, StreamLimits
from solbot.streams._client import StreamClient

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


class FakeConnection:
    """Records frames; `full` makes the next writes pause the client like a full transport."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.aborted = False
        self.pings = 0

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def abort(self) -> None:
        self.aborted = True

    def ping(self) -> None:
        self.pings += 1

    def buffered_bytes(self) -> int:
        return 0

    def messages(self) -> list[dict[str, object]]:
        # One write may carry several frames. Ours are short: a 2-byte header for < 126 bytes,
        # 4 bytes (a 16-bit length) up to 64 KiB.
        out = []
        for written in self.frames:
            at = 0
            while at < len(written):
                size = written[at + 1]
                if size < 126:
                    at += 2
                else:
                    size = int.from_bytes(written[at + 2 : at + 4], "big")
                    at += 4
                out.append(orjson.loads(written[at : at + size]))
                at += size
        return out


def close_code(connection: FakeConnection) -> int | None:
    return None if connection.closed is None else connection.closed[0]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _hub(clock: Clock, **limits: float) -> StreamHub:
    return StreamHub(metrics=Metrics(), limits=StreamLimits(**limits), clock=clock)  # type: ignore[arg-type]


async def _subscribed(hub: StreamHub, *mints: str) -> tuple[StreamClient, FakeConnection]:
    connection = FakeConnection()
    client = hub.connect(connection)
    hub.receive(
        client, orjson.dumps({"op": "subscribe", "channel": "prices", "assets": list(mints)})
    )
    while client.ops_running:  # the op runs in a task
        await asyncio.sleep(0)
    connection.frames.clear()
    return client, connection


async def test_one_frame_object_is_written_to_every_subscriber(clock: Clock) -> None:
    """The message is serialized once: every subscriber receives the very same bytes object."""
    hub = _hub(clock)
    subscribers = [await _subscribed(hub, SOL) for _ in range(3)]
    await hub.publish_price(SOL, "1.5", "pyth", 3)
    frames = [connection.frames[0] for _, connection in subscribers]
    assert frames[0] is frames[1] is frames[2]
    assert subscribers[0][1].messages()[0]["seq"] == 1


async def test_a_paused_client_keeps_only_the_latest_price_per_asset(clock: Clock) -> None:
    """While paused, prices coalesce per asset in arrival order; resuming writes them out."""
    hub = _hub(clock)
    client, connection = await _subscribed(hub, SOL, USDC)
    hub.paused(client)
    for i in range(5):
        await hub.publish_price(SOL, f"{i}", "pyth", i)
    await hub.publish_price(USDC, "1", "pyth", 1)
    assert connection.frames == [] and client.pending() == 2
    hub.resumed(client)
    assert [(m["mint"], m["seq"]) for m in connection.messages()] == [(SOL, 5), (USDC, 1)]
    assert hub.metrics.dropped.labels("coalesced")._value.get() == 4


async def test_a_client_paused_past_its_timeout_is_closed_1013(clock: Clock) -> None:
    """The sweep closes a client that stayed paused longer than slow_client_timeout_s."""
    hub = _hub(clock, slow_client_timeout_s=2.0)
    client, connection = await _subscribed(hub, SOL)
    hub.paused(client)
    clock.now += 1.9
    hub.sweep(clock.now)
    assert close_code(connection) is None
    clock.now += 0.2
    hub.sweep(clock.now)
    assert close_code(connection) == 1013
    assert client.subscriptions == set()


async def test_a_client_overflowing_its_ordered_queue_is_closed_1013(clock: Clock) -> None:
    """Trades cannot be coalesced: past max_pending_frames queued, the client is closed."""
    hub = _hub(clock, max_pending_frames=3)
    client, connection = await _subscribed(hub, SOL)
    hub.paused(client)
    for _ in range(4):
        hub.receive(client, b'{"op": "ping"}')
    assert close_code(connection) == 1013


async def test_keepalive_pings_then_aborts_a_silent_peer(clock: Clock) -> None:
    """A ping after ping_interval_s; no pong within ping_timeout_s drops the socket."""
    hub = _hub(clock, ping_interval_s=10.0, ping_timeout_s=5.0)
    client, connection = await _subscribed(hub, SOL)
    clock.now += 10.1
    hub.sweep(clock.now)
    assert connection.pings == 1
    hub.pong(client)
    clock.now += 10.1
    hub.sweep(clock.now)
    assert (connection.pings, connection.aborted) == (2, False)
    clock.now += 5.1
    hub.sweep(clock.now)
    assert (connection.aborted, client.subscriptions) == (True, set())


async def test_disconnect_frees_the_client_everywhere(clock: Clock) -> None:
    """After the transport is gone no stream holds the client and the gauge drops."""
    hub = _hub(clock)
    client, _ = await _subscribed(hub, SOL, USDC)
    assert hub.metrics.connections._value.get() == 1
    hub.disconnected(client)
    assert client not in hub.clients
    assert hub.metrics.connections._value.get() == 0
    await hub.publish_price(SOL, "1", "pyth", None)  # nobody to write to, no error


async def test_trade_events_are_published_to_the_wallets_trade_stream(clock: Clock) -> None:
    """`on_trade_event` (a trading TradeEventListener) reaches the wallet's trades subscribers."""
    hub = _hub(clock)
    connection = FakeConnection()
    client = hub.connect(connection)
    wallet = "A1iceWa11et1111111111111111111111111111111"
    topic = hub._topic(f"trades:{wallet}")
    topic.subscribers[client] = topic.seq  # joined now: gets every later event
    hub.on_trade_event(f"wallet:{wallet}", {"tradeId": "t-1", "status": "confirmed"})
    for _ in range(3):
        await asyncio.sleep(0)
    [event] = connection.messages()
    assert (event["type"], event["wallet"], event["trade"]) == (
        "trade",
        wallet,
        {"tradeId": "t-1", "status": "confirmed"},
    )


async def _price_subscribers(hub: StreamHub, count: int) -> list[FakeConnection]:
    return [(await _subscribed(hub, SOL))[1] for _ in range(count)]


async def test_a_fanout_hands_out_one_slice_per_loop_turn(clock: Clock) -> None:
    """A message for more clients than `fanout_slice` reaches them a slice per loop turn, the
    first slice at once: no single callback writes to every subscriber."""
    hub = _hub(clock, fanout_slice=2)
    connections = await _price_subscribers(hub, 5)
    await hub.publish_price(SOL, "1", "pyth", 1)
    reached = [sum(1 for c in connections if c.frames)]
    for _ in range(3):
        await asyncio.sleep(0)
        reached.append(sum(1 for c in connections if c.frames))
    assert reached == [2, 4, 5, 5]
    assert hub.metrics.messages_sent.labels("prices")._value.get() == 5


async def test_sliced_fanouts_keep_each_clients_frames_in_publication_order(clock: Clock) -> None:
    """Messages published while a fan-out is under way queue behind it: every client still
    receives seq 1, 2, 3 in order, across streams too."""
    hub = _hub(clock, fanout_slice=3)
    connections = [(await _subscribed(hub, SOL, USDC))[1] for _ in range(4)]
    await hub.publish_price(SOL, "1", "pyth", 1)
    await hub.publish_price(USDC, "1", "pyth", 1)
    await hub.publish_price(SOL, "2", "pyth", 2)
    for _ in range(5):
        await asyncio.sleep(0)
    for connection in connections:
        assert [(m["mint"], m["seq"]) for m in connection.messages()] == [
            (SOL, 1),
            (USDC, 1),
            (SOL, 2),
        ]


async def test_a_client_leaving_during_a_sliced_fanout_gets_nothing_more(clock: Clock) -> None:
    """A client closed or disconnected before its slice is skipped."""
    hub = _hub(clock, fanout_slice=1)
    await _subscribed(hub, SOL)
    closed, closed_connection = await _subscribed(hub, SOL)
    gone, gone_connection = await _subscribed(hub, SOL)
    await hub.publish_price(SOL, "1", "pyth", 1)
    hub.close(closed, 1000, "bye")
    hub.disconnected(gone)
    for _ in range(4):
        await asyncio.sleep(0)
    assert closed_connection.frames == [] and close_code(closed_connection) == 1000
    assert gone_connection.frames == []


async def test_a_client_back_during_a_sliced_fanout_gets_the_price_once(clock: Clock) -> None:
    """A client that leaves and subscribes again before its slice has the message in its
    snapshot: the fan-out under way does not send it a second time."""
    hub = _hub(clock, fanout_slice=1)
    await _price_subscribers(hub, 4)  # ahead of it: its slice comes four turns later
    client, connection = await _subscribed(hub, SOL)
    await hub.publish_price(SOL, "1", "pyth", 1)
    hub.receive(client, orjson.dumps({"op": "unsubscribe", "channel": "prices", "assets": [SOL]}))
    while client.ops_running:
        await asyncio.sleep(0)
    hub.receive(client, orjson.dumps({"op": "subscribe", "channel": "prices", "assets": [SOL]}))
    for _ in range(6):
        await asyncio.sleep(0)
    kinds = [(m["type"], m.get("seq")) for m in connection.messages()]
    assert kinds == [("unsubscribed", None), ("subscribed", None), ("price", 1)]


async def test_a_backlog_of_fanouts_past_its_bound_is_finished_by_the_publisher(
    clock: Clock,
) -> None:
    """Beyond `max_queued_fanouts` waiting messages, publishing completes the oldest in its own
    turn: a publisher faster than the CPU is slowed down instead of queueing without bound."""
    hub = _hub(clock, fanout_slice=1, max_queued_fanouts=2)
    connections = await _price_subscribers(hub, 3)
    for i in range(1, 5):
        await hub.publish_price(SOL, str(i), "pyth", i)
    assert len(hub._fanouts) <= 2
    for _ in range(10):
        await asyncio.sleep(0)
    for connection in connections:
        assert [m["seq"] for m in connection.messages()] == [1, 2, 3, 4]


async def test_a_client_due_several_queued_messages_gets_them_in_one_write(clock: Clock) -> None:
    """Messages queued behind the fan-out under way reach a client that is due them in the
    same write as the current one (one send instead of three), still in publication order."""
    hub = _hub(clock, fanout_slice=1)
    await _subscribed(hub, SOL, USDC)
    _, connection = await _subscribed(hub, SOL, USDC)
    await hub.publish_price(SOL, "1", "pyth", 1)
    await hub.publish_price(USDC, "1", "pyth", 1)
    await hub.publish_price(SOL, "2", "pyth", 2)
    for _ in range(4):
        await asyncio.sleep(0)
    assert len(connection.frames) == 1
    assert [(m["mint"], m["seq"]) for m in connection.messages()] == [
        (SOL, 1),
        (USDC, 1),
        (SOL, 2),
    ]
    assert hub.metrics.messages_sent.labels("prices")._value.get() == 6


async def test_a_paused_client_due_queued_messages_still_coalesces_them(clock: Clock) -> None:
    """A lagging client handed several queued prices of one asset keeps only the latest."""
    hub = _hub(clock, fanout_slice=1)
    await _subscribed(hub, SOL)
    client, connection = await _subscribed(hub, SOL)
    hub.paused(client)
    for i in range(1, 4):
        await hub.publish_price(SOL, str(i), "pyth", i)
    while hub._fanouts:
        await asyncio.sleep(0)
    assert connection.frames == [] and client.pending() == 1
    assert hub.metrics.dropped.labels("coalesced")._value.get() == 2
    hub.resumed(client)
    assert [m["seq"] for m in connection.messages()] == [3]
