"""The live view: one refreshing panel on a terminal (rich), one line every few seconds when
the output is a pipe or a file (CI logs)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from solbot.loadtest._engine import SecondRow
from solbot.loadtest._measure import histogram_stats

__all__ = ["LiveProgress"]

_PLAIN_EVERY_S = 5


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


class LiveProgress:
    def __init__(self, console: Console, *, title: str, warn_cpu: float = 0.85) -> None:
        self._console = console
        self._title = title
        self._warn_cpu = warn_cpu
        self._live: Live | None = None
        self._notes: list[str] = []
        self._totals: dict[str, int] = {}

    def __enter__(self) -> LiveProgress:
        if self._console.is_terminal:
            self._live = Live(console=self._console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def note(self, message: str) -> None:
        self._notes.append(message)
        if self._live is None:
            self._console.print(message, highlight=False)

    def second(self, row: SecondRow, *, elapsed_s: float, total_s: float, phase: str) -> None:
        for key, value in row.counters.items():
            self._totals[key] = self._totals.get(key, 0) + value
        errors = sum(row.errors.values())
        self._totals["errors"] = self._totals.get("errors", 0) + errors
        stats = histogram_stats(row.message_histogram())
        http = histogram_stats(row.http_latency)
        server = row.server
        cpu_top = max(row.worker_cpu.values(), default=0.0)
        fields = {
            "phase": f"{phase} {elapsed_s:.0f}/{total_s:.0f} s",
            "connections": f"{row.open_total:,} open / {sum(row.targets.values()):,.0f} target",
            "messages/s": f"{row.messages:,}",
            "latency p50/p99": f"{_ms(stats['p50'])} / {_ms(stats['p99'])}",
            "http/s, p99": f"{row.counters.get('http_requests', 0):,}, {_ms(http['p99'])}",
            "errors (this s / total)": f"{errors:,} / {self._totals['errors']:,}"
            + (f" {max(row.errors, key=row.errors.__getitem__)}" if row.errors else ""),
            "drops total": f"{self._totals.get('drops', 0):,}",
            "server": "-"
            if server is None
            else (
                f"{server.connections or 0:,.0f} conns, "
                f"CPU {'-' if row.server_cpu is None else f'{row.server_cpu:.0%}'}, "
                f"RSS {_mib(server.rss_bytes)}, "
                f"lag {'-' if server.loop_lag_s is None else f'{server.loop_lag_s * 1000:.0f} ms'}"
            ),
            "generator CPU": ", ".join(f"{v:.0%}" for _, v in sorted(row.worker_cpu.items()))
            + (" [bold red]near saturation[/]" if cpu_top >= self._warn_cpu else ""),
        }
        if self._live is not None:
            table = Table(title=self._title, show_header=False, expand=False)
            table.add_column(style="bold")
            table.add_column()
            for name, shown in fields.items():
                table.add_row(name, shown)
            for note in self._notes[-3:]:
                table.add_row("note", note)
            self._live.update(table)
        elif row.t % _PLAIN_EVERY_S == 0:
            self._console.print(
                " | ".join(f"{k}: {v}" for k, v in fields.items()), highlight=False, soft_wrap=True
            )
