"""The bot's Solana PubSub client: one reconnecting WebSocket carrying `signatureSubscribe` and
`accountSubscribe` (wire-formats §7).

Notifications are a latency optimisation, never the source of truth: sockets go quiet without
closing, one-shot signature notifications are lost across a reconnect, and a signature processed
before its subscription never notifies (§9.5). Callers therefore always race this against RPC
polling; every wait here has a timeout and ends quietly (None) rather than raising when the
socket misbehaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from solbot.ops import get_logger
from solbot.rpc._types import AccountState

__all__ = ["AccountSubscription", "PubSubClient", "SignatureResult"]

_log = get_logger("solbot.rpc.pubsub")
_ACCOUNT_QUEUE = 64


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """A signature's final notification: the slot it landed in and its TransactionError (None =
    success)."""

    slot: int
    err: Any


@dataclass(slots=True, eq=False)
class _Subscription:
    method: str
    params: list[Any]
    unsubscribe_method: str
    server_id: int | None = None
    # one-shot (signature) subscriptions resolve this; streaming ones feed `queue`
    result: asyncio.Future[SignatureResult] | None = None
    queue: asyncio.Queue[tuple[int, AccountState | None]] | None = None
    closed: bool = False


@dataclass(slots=True)
class _State:
    ws: ClientConnection | None = None
    pending: dict[int, _Subscription] = field(default_factory=dict)  # request id -> sub
    by_server_id: dict[int, _Subscription] = field(default_factory=dict)


class AccountSubscription:
    """Notifications of one account: `await sub.next(timeout_s)` or `async for slot, acct in sub`.

    A slow reader loses the oldest notifications (the queue is bounded): the newest state is the
    one that matters.
    """

    def __init__(self, client: PubSubClient, sub: _Subscription) -> None:
        self._client = client
        self._sub = sub

    async def next(self, timeout_s: float) -> tuple[int, AccountState | None] | None:
        """The next (slot, account) notification, or None when none came within `timeout_s`."""
        assert self._sub.queue is not None
        try:
            return await asyncio.wait_for(self._sub.queue.get(), timeout_s)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[tuple[int, AccountState | None]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[int, AccountState | None]]:
        assert self._sub.queue is not None
        while not self._sub.closed:
            yield await self._sub.queue.get()

    async def close(self) -> None:
        await self._client._drop(self._sub)


class PubSubClient:
    """`async with PubSubClient(ws_url) as pubsub:` keeps one socket open, reconnecting with
    backoff and re-subscribing what is still wanted."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 5.0,
        send_timeout_s: float = 2.0,
        ping_interval_s: float | None = 20.0,
        reconnect_delay_s: float = 0.25,
        max_reconnect_delay_s: float = 5.0,
    ) -> None:
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._send_timeout_s = send_timeout_s
        self._ping_interval_s = ping_interval_s
        self._reconnect_delay_s = reconnect_delay_s
        self._max_reconnect_delay_s = max_reconnect_delay_s
        self._ids = itertools.count(1)
        self._subs: set[_Subscription] = set()
        self._state = _State()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def __aenter__(self) -> PubSubClient:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pubsub-connection")

    async def aclose(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in list(self._subs):
            self._finish(sub)

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    # ---- subscriptions --------------------------------------------------------------------------

    async def wait_signature(
        self, signature: str, *, timeout_s: float, commitment: str = "confirmed"
    ) -> SignatureResult | None:
        """The signature's final notification at `commitment`, or None within `timeout_s`
        (including when the socket is down: the caller's polling decides then)."""
        loop = asyncio.get_running_loop()
        sub = _Subscription(
            method="signatureSubscribe",
            params=[signature, {"commitment": commitment}],
            unsubscribe_method="signatureUnsubscribe",
            result=loop.create_future(),
        )
        assert sub.result is not None
        await self._add(sub)
        try:
            return await asyncio.wait_for(asyncio.shield(sub.result), timeout_s)
        except TimeoutError:
            return None
        finally:
            await self._drop(sub)

    async def subscribe_account(
        self, pubkey: str, *, commitment: str = "confirmed"
    ) -> AccountSubscription:
        sub = _Subscription(
            method="accountSubscribe",
            params=[pubkey, {"commitment": commitment, "encoding": "base64"}],
            unsubscribe_method="accountUnsubscribe",
            queue=asyncio.Queue(maxsize=_ACCOUNT_QUEUE),
        )
        await self._add(sub)
        return AccountSubscription(self, sub)

    async def _add(self, sub: _Subscription) -> None:
        self._subs.add(sub)
        ws = self._state.ws
        if ws is not None:
            await self._send_subscribe(ws, sub)

    async def _drop(self, sub: _Subscription) -> None:
        if sub not in self._subs:
            return
        self._finish(sub)
        ws, server_id = self._state.ws, sub.server_id
        if ws is not None and server_id is not None:
            self._state.by_server_id.pop(server_id, None)
            request = {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": sub.unsubscribe_method,
                "params": [server_id],
            }
            with contextlib.suppress(Exception):  # best effort: the socket may be gone
                await asyncio.wait_for(
                    ws.send(orjson.dumps(request).decode()), self._send_timeout_s
                )

    def _finish(self, sub: _Subscription) -> None:
        sub.closed = True
        self._subs.discard(sub)
        if sub.result is not None and not sub.result.done():
            sub.result.cancel()

    async def _send_subscribe(self, ws: ClientConnection, sub: _Subscription) -> None:
        request_id = next(self._ids)
        self._state.pending[request_id] = sub
        request = {"jsonrpc": "2.0", "id": request_id, "method": sub.method, "params": sub.params}
        try:
            await asyncio.wait_for(ws.send(orjson.dumps(request).decode()), self._send_timeout_s)
        except Exception as exc:
            self._state.pending.pop(request_id, None)
            _log.debug("pubsub_send_failed", error=type(exc).__name__)

    # ---- the connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._reconnect_delay_s
        while not self._is_closing():
            try:
                async with websockets.connect(
                    self._url,
                    open_timeout=self._connect_timeout_s,
                    ping_interval=self._ping_interval_s,
                    ping_timeout=self._ping_interval_s,
                    close_timeout=1.0,
                    max_size=2**22,
                ) as ws:
                    delay = self._reconnect_delay_s
                    self._state = _State(ws=ws)
                    self._connected.set()
                    for sub in list(self._subs):
                        await self._send_subscribe(ws, sub)
                    async for raw in ws:
                        self._handle(raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.info("pubsub_disconnected", url=self._url, error=type(exc).__name__)
            finally:
                self._connected.clear()
                self._state = _State()
                for sub in self._subs:
                    sub.server_id = None
            if self._is_closing():
                return
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay_s)

    def _is_closing(self) -> bool:
        return self._closing

    def _handle(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        if "id" in message and message.get("id") is not None:
            sub = self._state.pending.pop(message["id"], None)
            if sub is None:
                return
            result = message.get("result")
            if isinstance(result, int) and not isinstance(result, bool) and not sub.closed:
                sub.server_id = result
                self._state.by_server_id[result] = sub
            return
        params = message.get("params")
        if not isinstance(params, dict):
            return
        sub = self._state.by_server_id.get(params.get("subscription"))  # type: ignore[arg-type]
        if sub is None or sub.closed:
            return
        notification = params.get("result") or {}
        method = message.get("method")
        try:
            slot = int(notification["context"]["slot"])
            value = notification["value"]
        except (KeyError, TypeError, ValueError):
            return
        if method == "signatureNotification":
            if not isinstance(value, dict):
                return  # "receivedSignature": not final
            self._state.by_server_id.pop(sub.server_id or -1, None)
            if sub.result is not None and not sub.result.done():
                sub.result.set_result(SignatureResult(slot, value.get("err")))
        elif method == "accountNotification" and sub.queue is not None:
            try:
                account = AccountState.parse(value)
            except ValueError:
                return
            if sub.queue.full():
                sub.queue.get_nowait()
            sub.queue.put_nowait((slot, account))
