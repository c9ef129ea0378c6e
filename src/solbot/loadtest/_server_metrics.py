"""What the server felt: its `/metrics` sampled every second, plus `/proc/<pid>` when local.

The gateway's `/metrics` gives connections, event-loop lag, queue depths, messages sent and
dropped; `process_*` (CPU, resident memory, open fds) appear when the server registers
prometheus_client's process collector. A local server's pid (`--server-pid`) fills the same
three from /proc when they are missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ServerSample", "parse_metrics", "read_proc"]


@dataclass(slots=True)
class ServerSample:
    t: float  # seconds since the run's second 0 (negative during the baseline)
    ok: bool = True
    connections: float | None = None
    loop_lag_s: float | None = None
    cpu_s: float | None = None  # cumulative CPU seconds of the process
    rss_bytes: float | None = None
    open_fds: float | None = None
    max_fds: float | None = None
    buffered_bytes: float | None = None
    queue_depth: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)  # cumulative, by channel
    dropped: dict[str, float] = field(default_factory=dict)  # cumulative, by reason
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def parse_metrics(text: str, t: float) -> ServerSample:
    """One `/metrics` page as a sample (unknown metrics ignored)."""
    sample = ServerSample(t=t)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name, labels, value = s.name, s.labels, float(s.value)
            if name == "solbot_ws_connections":
                sample.connections = value
            elif name == "solbot_event_loop_lag_seconds":
                sample.loop_lag_s = value
            elif name == "process_cpu_seconds_total":
                sample.cpu_s = value
            elif name == "process_resident_memory_bytes":
                sample.rss_bytes = value
            elif name == "process_open_fds":
                sample.open_fds = value
            elif name == "process_max_fds":
                sample.max_fds = value
            elif name == "solbot_ws_buffered_bytes":
                sample.buffered_bytes = value
            elif name == "solbot_ws_client_queue_depth_clients":
                sample.queue_depth[labels.get("depth", "?")] = value
            elif name == "solbot_ws_messages_sent_total":
                sample.sent[labels.get("channel", "?")] = value
            elif name == "solbot_ws_dropped_total":
                sample.dropped[labels.get("reason", "?")] = value
    return sample


def read_proc(pid: int, sample: ServerSample) -> None:
    """Fill CPU, RSS and fds of a local process from /proc where /metrics had none."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGE_SIZE")
        if sample.cpu_s is None:
            sample.cpu_s = (int(fields[11]) + int(fields[12])) / ticks
        if sample.rss_bytes is None:
            sample.rss_bytes = float(int(fields[21]) * page)
        if sample.open_fds is None:
            sample.open_fds = float(len(os.listdir(f"/proc/{pid}/fd")))
    except (OSError, IndexError, ValueError):
        return
