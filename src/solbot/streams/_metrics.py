"""The gateway's metrics (CONTRACT.md names) and the event-loop lag monitor."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from solbot.ops import LoopLag, Metrics

__all__ = ["QUEUE_DEPTH_BUCKETS", "EventLoopLagMonitor", "StreamMetrics"]

# Upper bounds of the per-client queue depth buckets (frames waiting in our queue).
QUEUE_DEPTH_BUCKETS: tuple[tuple[str, int], ...] = (
    ("0", 0),
    ("1-7", 7),
    ("8-63", 63),
    ("64-255", 255),
    ("256+", 1 << 62),
)


class StreamMetrics:
    """Registered on the process's `Metrics` registry, so `/metrics` shows them with the rest."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.connections = Gauge("solbot_ws_connections", "Open stream connections", registry=r)
        self.messages_sent = Counter(
            "solbot_ws_messages_sent_total",
            "Frames written to clients, by channel (control: acks, errors, pongs)",
            ["channel"],
            registry=r,
        )
        self.dropped = Counter(
            "solbot_ws_dropped_total",
            "Frames not delivered (coalesced, slow_client, ...) and connections refused or closed "
            "by policy (connection_cap, connection_rate, invalid_frames, keepalive_timeout)",
            ["reason"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "solbot_ws_client_queue_depth_clients",
            "Clients by frames waiting in their own queue, sampled",
            ["depth"],
            registry=r,
        )
        self.buffered_bytes = Gauge(
            "solbot_ws_buffered_bytes",
            "Bytes waiting in all clients' transport buffers, sampled",
            registry=r,
        )
        self.subscriptions = Gauge(
            "solbot_ws_subscriptions",
            "Active stream subscriptions, by channel",
            ["channel"],
            registry=r,
        )
        self.fanout_duration = Histogram(
            "solbot_ws_fanout_duration_seconds",
            "Time to hand one message to every local subscriber",
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=r,
        )
        self.event_loop_lag = metrics.event_loop_lag


# The loop-lag monitor is shared with the rest of the bot (quotes shed load on it too).
EventLoopLagMonitor = LoopLag
