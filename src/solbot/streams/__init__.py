"""Real-time streams: the `/v1/stream` WebSocket gateway for prices, balances and trades.

    hub = StreamHub(metrics=metrics, redis=redis, auth=AuthService(ledger.users),
                    wallets=ledger.wallets)
    async with StreamServer(hub, metrics, host, port):      # ws://host:port/v1/stream
        async with PricePublisher(hub, hermes=..., fallback=jupiter, mints=...):
            await hub.publish_balance(wallet, mint, amount, slot)   # from anywhere

Protocol: `_protocol.py` and CONTRACT.md; fan-out and slow-client policy: `_hub.py`, `_client.py`.
"""

from solbot.streams._balances import BalancePublisher
from solbot.streams._hub import Authenticator, StreamHub, WalletLookup
from solbot.streams._limits import StreamLimits
from solbot.streams._metrics import EventLoopLagMonitor, StreamMetrics
from solbot.streams._prices import PricePublisher, format_price, parse_hermes_event
from solbot.streams._protocol import Channel, ErrorCode
from solbot.streams._server import STREAM_PATH, StreamServer, tune_gc

__all__ = [
    "STREAM_PATH",
    "Authenticator",
    "BalancePublisher",
    "Channel",
    "ErrorCode",
    "EventLoopLagMonitor",
    "PricePublisher",
    "StreamHub",
    "StreamLimits",
    "StreamMetrics",
    "StreamServer",
    "WalletLookup",
    "format_price",
    "parse_hermes_event",
    "tune_gc",
]
