"""The simnet's Solana PubSub server over WebSocket (`websockets`).

It follows the chain as a `ChainListener`. Listener calls are synchronous and cheap: they find the
matching subscriptions through indexes and append pre-serialized frames to each client's bounded
outbox; one writer task per client sends them. A client that cannot keep up is disconnected
(close code 1013), never waited for, so the chain never blocks on a socket.

Commitments work as on a node: `processed` notifications go out as the chain executes, `confirmed`
ones one slot later, `finalized` ones when the slot is 32 deep. Faults (target `pubsub`): `stall`
drops every notification while subscribe calls still answer; `latency_ms`/`latency_jitter_ms`
delay each notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from solbot.ops import get_logger
from solbot.sim.chain import SimChain, TransactionRecord
from solbot.sim.faults import FaultBook
from solbot.sim.rpc._encoding import (
    Commitment,
    account_json,
    check_account_encoding,
    commitment_of,
    config_at,
    deleted_account_json,
    parse_pubkey,
    parse_signature,
)
from solbot.sim.rpc._errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    invalid_params,
)

__all__ = ["PubSubServer"]

_log = get_logger(__name__)

MAX_OUTBOX = 20_000  # frames queued for one client before it is cut off as too slow
_LOGS_FILTER_ERROR = 'Invalid params: expected "all", "allWithVotes" or {"mentions": [pubkey]}'


@dataclass(eq=False, slots=True)
class _Subscription:
    id: int
    kind: str  # "slot" | "account" | "signature" | "logs"
    client: _Client
    commitment: Commitment = "finalized"
    encoding: str = "base64"
    pubkey: Pubkey | None = None
    signature: Signature | None = None
    mentions: Pubkey | None = None
    received_notification: bool = False


@dataclass(eq=False, slots=True)
class _Client:
    websocket: ServerConnection
    outbox: deque[tuple[float, str]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    subscriptions: set[int] = field(default_factory=set)
    closed: bool = False


def _frame(method: str, result: str, subscription: int) -> str:
    return (
        f'{{"jsonrpc":"2.0","method":"{method}","params":{{"result":{result},'
        f'"subscription":{subscription}}}}}'
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class PubSubServer:
    """Solana PubSub (slot, account, signature, logs subscriptions) for one `SimChain`."""

    def __init__(self, chain: SimChain, faults: FaultBook) -> None:
        self._chain = chain
        self._faults = faults
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._subs: dict[int, _Subscription] = {}
        self._slot_subs: dict[int, _Subscription] = {}
        self._account_subs: dict[Pubkey, dict[int, _Subscription]] = defaultdict(dict)
        self._signature_subs: dict[Signature, dict[int, _Subscription]] = defaultdict(dict)
        self._logs_all: dict[int, _Subscription] = {}
        self._logs_mentions: dict[Pubkey, dict[int, _Subscription]] = defaultdict(dict)
        # deferred work
        self._dirty_accounts: dict[Pubkey, tuple[Account | None, int]] = {}
        self._flush_scheduled = False
        self._account_changes: dict[int, dict[Pubkey, Account | None]] = {}
        self._logs_by_slot: dict[int, list[TransactionRecord]] = {}
        self._signature_due: dict[int, list[tuple[_Subscription, TransactionRecord]]] = defaultdict(
            list
        )
        self._clients: set[_Client] = set()
        self.notifications_sent = 0
        self.clients_cut_off = 0

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); return the bound port."""
        self._loop = asyncio.get_running_loop()
        self._server = await serve(
            self._handle,
            host,
            port,
            compression=None,
            max_size=1 << 20,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
        )
        self._chain.add_listener(self)
        sockets = list(self._server.sockets)
        bound: int = sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        self._chain.remove_listener(self)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    @property
    def subscription_count(self) -> int:
        return len(self._subs)

    # ---- connections ------------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        client = _Client(websocket)
        self._clients.add(client)
        writer = asyncio.create_task(self._write(client))
        try:
            async for message in websocket:
                self._receive(client, message)
        except ConnectionClosed:
            pass
        finally:
            client.closed = True
            client.wakeup.set()
            for sub_id in list(client.subscriptions):
                self._remove(sub_id)
            self._clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            while not client.closed:
                if not client.outbox:
                    client.wakeup.clear()
                    await client.wakeup.wait()
                    continue
                due, text = client.outbox.popleft()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await client.websocket.send(text)

    def _push(self, client: _Client, text: str, *, notification: bool) -> None:
        if client.closed:
            return
        due = 0.0
        if notification:
            delay = self._faults.delay_s("pubsub")
            if delay > 0 and self._loop is not None:
                due = self._loop.time() + delay
            self.notifications_sent += 1
        if len(client.outbox) >= MAX_OUTBOX:
            self._cut_off(client)
            return
        client.outbox.append((due, text))
        client.wakeup.set()

    def _cut_off(self, client: _Client) -> None:
        client.closed = True
        client.outbox.clear()
        client.wakeup.set()
        self.clients_cut_off += 1
        _log.warning("pubsub_client_too_slow", remote=str(client.websocket.remote_address))
        if self._loop is not None:
            self._loop.create_task(client.websocket.close(1013, "client too slow"))

    def _notify(self, sub: _Subscription, method: str, result: str) -> None:
        self._push(sub.client, _frame(method, result, sub.id), notification=True)

    @property
    def _stalled(self) -> bool:
        return self._faults.get("pubsub").stall

    # ---- requests ---------------------------------------------------------------------------

    def _receive(self, client: _Client, message: str | bytes) -> None:
        try:
            payload = orjson.loads(message)
        except orjson.JSONDecodeError:
            parse_error = _error(RpcError(PARSE_ERROR, "Parse error"))
            self._push(client, _dumps(parse_error), notification=False)
            return
        if isinstance(payload, list):
            if not payload:
                answer: Any = _error(RpcError(INVALID_REQUEST, "Invalid request"))
                self._push(client, _dumps(answer), notification=False)
                return
            # answers first, then any notification a subscribe fires at once
            followups: list[tuple[_Subscription, str, str]] = []
            answers = [self._answer(client, item, followups) for item in payload]
            self._push(client, _dumps(answers), notification=False)
        else:
            followups = []
            self._push(client, _dumps(self._answer(client, payload, followups)), notification=False)
        if not self._stalled:
            for sub, method, result in followups:
                self._notify(sub, method, result)

    def _answer(
        self, client: _Client, request: Any, followups: list[tuple[_Subscription, str, str]]
    ) -> dict[str, Any]:
        if not isinstance(request, dict):
            return _error(RpcError(INVALID_REQUEST, "Invalid request"))
        request_id = request.get("id")
        method = request.get("method")
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(RpcError(INVALID_REQUEST, "Invalid request"), request_id)
        params = request.get("params")
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(RpcError(INVALID_PARAMS, "Invalid params"), request_id)
        try:
            result = self._call(client, method, params, followups)
        except RpcError as error:
            return _error(error, request_id)
        except Exception:
            _log.exception("pubsub_method_crashed", method=method)
            return _error(RpcError(INTERNAL_ERROR, "Internal error"), request_id)
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    def _call(
        self,
        client: _Client,
        method: str,
        params: list[Any],
        followups: list[tuple[_Subscription, str, str]],
    ) -> Any:
        if method == "slotSubscribe":
            sub = self._add(client, "slot")
            self._slot_subs[sub.id] = sub
            return sub.id
        if method == "accountSubscribe":
            if not params:
                raise invalid_params("Invalid params: missing pubkey")
            pubkey = parse_pubkey(params[0])
            config = config_at(params, 1)
            encoding = check_account_encoding(config)
            sub = self._add(client, "account", commitment_of(config), encoding)
            sub.pubkey = pubkey
            self._account_subs[pubkey][sub.id] = sub
            return sub.id
        if method == "signatureSubscribe":
            return self._signature_subscribe(client, params, followups)
        if method == "logsSubscribe":
            return self._logs_subscribe(client, params)
        if method.endswith("Unsubscribe"):
            kind = method.removesuffix("Unsubscribe")
            if kind not in ("slot", "account", "signature", "logs"):
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            if not params or not isinstance(params[0], int) or isinstance(params[0], bool):
                raise invalid_params("Invalid params: expected a subscription id")
            existing = self._subs.get(params[0])
            if existing is None or existing.client is not client or existing.kind != kind:
                raise invalid_params("Invalid subscription id.")
            self._remove(existing.id)
            return True
        raise RpcError(METHOD_NOT_FOUND, "Method not found")

    def _add(
        self,
        client: _Client,
        kind: str,
        commitment: Commitment = "finalized",
        encoding: str = "base64",
    ) -> _Subscription:
        sub = _Subscription(next(self._ids), kind, client, commitment, encoding)
        self._subs[sub.id] = sub
        client.subscriptions.add(sub.id)
        return sub

    def _remove(self, sub_id: int) -> None:
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return
        sub.client.subscriptions.discard(sub_id)
        if sub.kind == "slot":
            self._slot_subs.pop(sub_id, None)
        elif sub.kind == "account" and sub.pubkey is not None:
            _discard(self._account_subs, sub.pubkey, sub_id)
        elif sub.kind == "signature" and sub.signature is not None:
            _discard(self._signature_subs, sub.signature, sub_id)
        elif sub.kind == "logs":
            if sub.mentions is None:
                self._logs_all.pop(sub_id, None)
            else:
                _discard(self._logs_mentions, sub.mentions, sub_id)

    def _depth(self, commitment: Commitment) -> int:
        if commitment == "processed":
            return 0
        if commitment == "confirmed":
            return 1
        return self._chain.slot - self._chain.finalized_slot

    def _signature_subscribe(
        self,
        client: _Client,
        params: list[Any],
        followups: list[tuple[_Subscription, str, str]],
    ) -> int:
        if not params:
            raise invalid_params("Invalid params: missing signature")
        signature = parse_signature(params[0])
        config = config_at(params, 1)
        sub = self._add(client, "signature", commitment_of(config))
        sub.signature = signature
        sub.received_notification = bool(config.get("enableReceivedNotification", False))
        record = self._chain.transaction(signature)
        if record is None:
            self._signature_subs[signature][sub.id] = sub
            return sub.id
        # Already landed: answer at once if the commitment is reached, else when it is.
        if self._chain.slot - record.slot >= self._depth(sub.commitment):
            self._remove(sub.id)
            followups.append((sub, "signatureNotification", _signature_result(record)))
        else:
            self._signature_due[record.slot + self._depth(sub.commitment)].append((sub, record))
        return sub.id

    def _logs_subscribe(self, client: _Client, params: list[Any]) -> int:
        if not params:
            raise invalid_params("Invalid params: missing filter")
        log_filter = params[0]
        mentions: Pubkey | None = None
        if isinstance(log_filter, dict):
            addresses = log_filter.get("mentions")
            if set(log_filter) != {"mentions"} or not isinstance(addresses, list):
                raise invalid_params(_LOGS_FILTER_ERROR)
            if len(addresses) != 1:
                raise invalid_params("Invalid Request: Only 1 address supported")
            mentions = parse_pubkey(addresses[0])
        elif log_filter not in ("all", "allWithVotes"):
            raise invalid_params(_LOGS_FILTER_ERROR)
        config = config_at(params, 1)
        sub = self._add(client, "logs", commitment_of(config))
        sub.mentions = mentions
        if mentions is None:
            self._logs_all[sub.id] = sub
        else:
            self._logs_mentions[mentions][sub.id] = sub
        return sub.id

    # ---- ChainListener ----------------------------------------------------------------------

    def on_slot(self, slot: int, parent: int, root: int) -> None:
        stalled = self._stalled
        if self._slot_subs and not stalled:
            result = _dumps({"parent": parent, "root": root, "slot": slot})
            for sub in list(self._slot_subs.values()):
                self._notify(sub, "slotNotification", result)
        finalized_depth = self._depth("finalized")
        levels: tuple[tuple[Commitment, int], ...] = (
            ("confirmed", 1),
            ("finalized", finalized_depth),
        )
        for commitment, depth in levels:
            committed = slot - depth
            changes = self._account_changes.get(committed)
            if changes and not stalled:
                self._notify_accounts(changes, committed, commitment)
            records = self._logs_by_slot.get(committed)
            if records and not stalled:
                for record in records:
                    self._notify_logs(record, commitment)
        oldest = slot - max(finalized_depth, 1) - 1
        for old in [s for s in self._account_changes if s < oldest]:
            del self._account_changes[old]
        for old in [s for s in self._logs_by_slot if s < oldest]:
            del self._logs_by_slot[old]
        for due in [s for s in self._signature_due if s <= slot]:
            for sub, record in self._signature_due.pop(due):
                if sub.id not in self._subs:
                    continue  # unsubscribed meanwhile
                self._remove(sub.id)
                if not stalled:
                    self._notify(sub, "signatureNotification", _signature_result(record))

    def on_transaction(self, record: TransactionRecord) -> None:
        stalled = self._stalled
        subs = self._signature_subs.pop(record.signature, None)
        if subs:
            for sub in subs.values():
                if sub.received_notification and not stalled:
                    received = _dumps(
                        {"context": {"slot": record.slot}, "value": "receivedSignature"}
                    )
                    self._notify(sub, "signatureNotification", received)
                if sub.commitment == "processed":
                    self._remove(sub.id)
                    if not stalled:
                        self._notify(sub, "signatureNotification", _signature_result(record))
                else:
                    due = record.slot + self._depth(sub.commitment)
                    self._signature_due[due].append((sub, record))
        if self._logs_all or self._logs_mentions:
            self._logs_by_slot.setdefault(record.slot, []).append(record)
            if not stalled:
                self._notify_logs(record, "processed")

    def on_accounts_changed(self, changed: dict[Pubkey, Account | None], slot: int) -> None:
        watched = self._account_subs
        if not watched:
            return
        bucket = self._account_changes.setdefault(slot, {})
        for pubkey, account in changed.items():
            if pubkey in watched:
                bucket[pubkey] = account
                self._dirty_accounts[pubkey] = (account, slot)
        if self._dirty_accounts and not self._flush_scheduled and self._loop is not None:
            # coalesce a burst of changes within one loop iteration into one notification each
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_processed)

    def _flush_processed(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty_accounts = self._dirty_accounts, {}
        if self._stalled:
            return
        for pubkey, (account, slot) in dirty.items():
            self._notify_accounts({pubkey: account}, slot, "processed")

    def _notify_accounts(
        self, changes: dict[Pubkey, Account | None], slot: int, commitment: Commitment
    ) -> None:
        for pubkey, account in changes.items():
            subs = self._account_subs.get(pubkey)
            if not subs:
                continue
            rendered: dict[str, str] = {}
            for sub in list(subs.values()):
                if sub.commitment != commitment:
                    continue
                result = rendered.get(sub.encoding)
                if result is None:
                    result = self._account_result(account, slot, sub.encoding)
                    rendered[sub.encoding] = result
                self._notify(sub, "accountNotification", result)

    def _account_result(self, account: Account | None, slot: int, encoding: str) -> str:
        value: dict[str, Any] | None
        try:
            value = account_json(account, encoding, self._chain.mint_decimals, strict_base58=False)
        except RpcError:
            value = account_json(account, "base64", self._chain.mint_decimals)
        if value is None:
            value = deleted_account_json(encoding)
        return _dumps({"context": {"slot": slot}, "value": value})

    def _notify_logs(self, record: TransactionRecord, commitment: Commitment) -> None:
        result: str | None = None
        targets = [s for s in self._logs_all.values() if s.commitment == commitment]
        for key in set(record.account_keys):
            subs = self._logs_mentions.get(key)
            if subs:
                targets.extend(s for s in subs.values() if s.commitment == commitment)
        for sub in targets:
            if result is None:
                result = _dumps(
                    {
                        "context": {"slot": record.slot},
                        "value": {
                            "err": record.err_json,
                            "logs": record.logs,
                            "signature": str(record.signature),
                        },
                    }
                )
            self._notify(sub, "logsNotification", result)


def _signature_result(record: TransactionRecord) -> str:
    return _dumps({"context": {"slot": record.slot}, "value": {"err": record.err_json}})


def _error(error: RpcError, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


def _discard(index: dict[Any, dict[int, _Subscription]], key: Any, sub_id: int) -> None:
    subs = index.get(key)
    if subs is None:
        return
    subs.pop(sub_id, None)
    if not subs:
        del index[key]
