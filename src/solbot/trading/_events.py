"""Trade events: a settled trade (confirmed, failed, expired) is published for its wallet.

The streams gateway and the portfolio cache subscribe; the tag is `wallet:<pubkey>`. The default
is an in-process fan-out (one instance); a Redis-backed bus can implement the same port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from solbot.ops import get_logger

__all__ = ["InProcessTradeEvents", "TradeEventListener", "TradeEvents", "wallet_tag"]

_log = get_logger("solbot.trading.events")

#: called with the tag (`wallet:<pubkey>`) and the trade as the API shows it
TradeEventListener = Callable[[str, Mapping[str, Any]], None]


def wallet_tag(wallet: str) -> str:
    return f"wallet:{wallet}"


class TradeEvents(Protocol):
    """Where settled trades are announced."""

    async def publish(self, wallet: str, trade: Mapping[str, Any]) -> None: ...


class InProcessTradeEvents:
    """Fan-out to the listeners of this process. A failing listener is logged and skipped: it
    never stops the others, nor the trade that published."""

    def __init__(self) -> None:
        self._listeners: list[TradeEventListener] = []

    def subscribe(self, listener: TradeEventListener) -> Callable[[], None]:
        """Listen to every trade event; returns the function that stops listening."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def publish(self, wallet: str, trade: Mapping[str, Any]) -> None:
        tag = wallet_tag(wallet)
        _log.info(
            "trade_event",
            tag=tag,
            trade_id=trade.get("tradeId"),
            status=trade.get("status"),
            signature=trade.get("signature"),
        )
        for listener in list(self._listeners):
            try:
                listener(tag, trade)
            except Exception as exc:  # one listener's bug must not stop the fan-out
                _log.error("trade_event_listener_failed", tag=tag, error_type=type(exc).__name__)
