from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["WallClock", "utc_now"]

WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
