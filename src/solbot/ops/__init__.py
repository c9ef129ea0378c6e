"""Operability: structured logs, metrics, health."""

from solbot.ops._lag import LoopLag
from solbot.ops._logging import (
    annotate_request_line,
    configure_logging,
    get_logger,
    request_id_var,
    request_line_var,
    utc_second_iso,
    write_request_line,
)
from solbot.ops._metrics import BoundChildren, Metrics
from solbot.ops._serving import AsgiServer

__all__ = [
    "AsgiServer",
    "BoundChildren",
    "LoopLag",
    "Metrics",
    "annotate_request_line",
    "configure_logging",
    "get_logger",
    "request_id_var",
    "request_line_var",
    "utc_second_iso",
    "write_request_line",
]
