"""The bot's Solana JSON-RPC client: the few methods it needs, with explicit timeouts and the
error tree's mapping (transport trouble is UpstreamUnavailable, a JSON-RPC error is
UpstreamRejected carrying the node's code, message and data)."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import httpx
import orjson

from solbot.errors import UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from solbot.rpc._types import (
    AccountState,
    ConfirmedTransaction,
    LatestBlockhash,
    PrioritizationFee,
    SignatureStatus,
    Simulation,
    context_value,
)

__all__ = ["RpcClient", "RpcError"]

_SOURCE = "rpc"
_T = TypeVar("_T")

Commitment = Literal["processed", "confirmed", "finalized"]
# getSignatureStatuses takes at most 256 signatures, getMultipleAccounts 100 addresses.
MAX_SIGNATURE_STATUSES = 256
MAX_MULTIPLE_ACCOUNTS = 100


class RpcError(UpstreamRejected):
    """The node answered with a JSON-RPC error; `rpc_code` and `data` are the node's."""

    def __init__(self, message: str, *, rpc_code: int, data: Any = None) -> None:
        super().__init__(message, source=_SOURCE, code="RPC_ERROR", rpc_code=rpc_code)
        self.rpc_code = rpc_code
        self.data = data


class RpcClient:
    def __init__(self, http: httpx.AsyncClient, url: str, *, timeout_s: float = 5.0) -> None:
        self._http = http
        self._url = url
        self._timeout_s = timeout_s
        self._ids = itertools.count(1)

    async def call(self, method: str, params: list[Any], *, timeout_s: float | None = None) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        timeout = self._timeout_s if timeout_s is None else timeout_s
        try:
            response = await self._http.post(
                self._url,
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
                timeout=httpx.Timeout(timeout),
            )
        except httpx.TimeoutException:
            raise UpstreamTimeout(
                f"{method}: no answer within {timeout:.2f}s", source=_SOURCE
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{method}: {type(exc).__name__}", source=_SOURCE) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise UpstreamUnavailable(
                f"{method}: HTTP {response.status_code}",
                source=_SOURCE,
                status=response.status_code,
            )
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamUnavailable(f"{method}: answer is not JSON", source=_SOURCE) from None
        if not isinstance(payload, dict):
            raise UpstreamUnavailable(f"{method}: answer is not a JSON-RPC object", source=_SOURCE)
        error = payload.get("error")
        if error is not None:
            raise RpcError(
                f"{method}: {error.get('message', 'error')}",
                rpc_code=int(error.get("code", 0)),
                data=error.get("data"),
            )
        return payload.get("result")

    async def mint_decimals(self, mint: str, *, timeout_s: float | None = None) -> int | None:
        """The decimals of `mint`, or None when the address holds no SPL mint."""
        result = await self.call(
            "getAccountInfo", [mint, {"encoding": "jsonParsed"}], timeout_s=timeout_s
        )
        value = (result or {}).get("value")
        if not isinstance(value, dict):
            return None
        data = value.get("data")
        if not isinstance(data, dict):
            return None
        parsed = data.get("parsed") or {}
        if parsed.get("type") != "mint":
            return None
        decimals = (parsed.get("info") or {}).get("decimals")
        return int(decimals) if isinstance(decimals, int) else None

    # ---- typed methods (wire-formats §6) --------------------------------------------------------

    async def _parsed(
        self,
        method: str,
        params: list[Any],
        parse: Callable[[Any], _T],
        timeout_s: float | None,
    ) -> _T:
        result = await self.call(method, params, timeout_s=timeout_s)
        try:
            return parse(result)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise UpstreamRejected(
                f"{method}: malformed answer ({exc})", source=_SOURCE, code="MALFORMED"
            ) from None

    async def get_latest_blockhash(
        self, *, commitment: Commitment = "confirmed", timeout_s: float | None = None
    ) -> LatestBlockhash:
        return await self._parsed(
            "getLatestBlockhash", [{"commitment": commitment}], LatestBlockhash.parse, timeout_s
        )

    async def get_block_height(
        self, *, commitment: Commitment = "confirmed", timeout_s: float | None = None
    ) -> int:
        return await self._parsed(
            "getBlockHeight", [{"commitment": commitment}], _as_int, timeout_s
        )

    async def get_balance(
        self, pubkey: str, *, commitment: Commitment = "confirmed", timeout_s: float | None = None
    ) -> int:
        return await self._parsed(
            "getBalance",
            [pubkey, {"commitment": commitment}],
            lambda r: _as_int(context_value(r)),
            timeout_s,
        )

    async def get_multiple_accounts(
        self,
        pubkeys: Sequence[str],
        *,
        commitment: Commitment = "confirmed",
        timeout_s: float | None = None,
    ) -> list[AccountState | None]:
        """The accounts at `pubkeys` (None where absent), in order, in one node view."""
        if len(pubkeys) > MAX_MULTIPLE_ACCOUNTS:
            raise ValueError(f"at most {MAX_MULTIPLE_ACCOUNTS} accounts per call")
        return await self._parsed(
            "getMultipleAccounts",
            [list(pubkeys), {"encoding": "base64", "commitment": commitment}],
            lambda r: [AccountState.parse(a) for a in context_value(r)],
            timeout_s,
        )

    async def get_token_accounts_by_owner(
        self,
        owner: str,
        *,
        mint: str | None = None,
        program_id: str | None = None,
        commitment: Commitment = "confirmed",
        timeout_s: float | None = None,
    ) -> dict[str, AccountState]:
        """The owner's token accounts by address, filtered by `mint` or by `program_id`."""
        if (mint is None) == (program_id is None):
            raise ValueError("give exactly one of mint and program_id")
        flt = {"mint": mint} if mint is not None else {"programId": program_id}

        def parse(result: Any) -> dict[str, AccountState]:
            accounts: dict[str, AccountState] = {}
            for entry in context_value(result):
                state = AccountState.parse(entry["account"])
                if state is not None:
                    accounts[str(entry["pubkey"])] = state
            return accounts

        return await self._parsed(
            "getTokenAccountsByOwner",
            [owner, flt, {"encoding": "base64", "commitment": commitment}],
            parse,
            timeout_s,
        )

    async def simulate_transaction(
        self,
        transaction: bytes,
        *,
        account_addresses: Sequence[str] = (),
        replace_recent_blockhash: bool = True,
        commitment: Commitment = "confirmed",
        timeout_s: float | None = None,
    ) -> Simulation:
        """Simulate unsigned or signed bytes (no signature check) and return the post-states of
        `account_addresses` (in order) with the logs and units consumed."""
        config: dict[str, Any] = {
            "encoding": "base64",
            "commitment": commitment,
            "sigVerify": False,
            "replaceRecentBlockhash": replace_recent_blockhash,
        }
        if account_addresses:
            config["accounts"] = {"addresses": list(account_addresses), "encoding": "base64"}
        return await self._parsed(
            "simulateTransaction",
            [base64.b64encode(transaction).decode(), config],
            Simulation.parse,
            timeout_s,
        )

    async def send_transaction(
        self,
        transaction: bytes,
        *,
        skip_preflight: bool = True,
        preflight_commitment: Commitment = "confirmed",
        max_retries: int | None = 0,
        timeout_s: float | None = None,
    ) -> str:
        """Send signed bytes once; the node does not retry (`maxRetries: 0`): the caller
        rebroadcasts. Returns the signature the node reports."""
        config: dict[str, Any] = {
            "encoding": "base64",
            "skipPreflight": skip_preflight,
            "preflightCommitment": preflight_commitment,
        }
        if max_retries is not None:
            config["maxRetries"] = max_retries

        def parse(result: Any) -> str:
            if not isinstance(result, str):
                raise ValueError("the signature must be a string")
            return result

        return await self._parsed(
            "sendTransaction", [base64.b64encode(transaction).decode(), config], parse, timeout_s
        )

    async def get_signature_statuses(
        self,
        signatures: Sequence[str],
        *,
        search_transaction_history: bool = False,
        timeout_s: float | None = None,
    ) -> list[SignatureStatus | None]:
        if len(signatures) > MAX_SIGNATURE_STATUSES:
            raise ValueError(f"at most {MAX_SIGNATURE_STATUSES} signatures per call")
        return await self._parsed(
            "getSignatureStatuses",
            [list(signatures), {"searchTransactionHistory": search_transaction_history}],
            lambda r: [SignatureStatus.parse(v) for v in context_value(r)],
            timeout_s,
        )

    async def get_transaction(
        self,
        signature: str,
        *,
        commitment: Commitment = "confirmed",
        timeout_s: float | None = None,
    ) -> ConfirmedTransaction | None:
        """The landed transaction with its meta, or None when the node does not have it (yet)."""
        return await self._parsed(
            "getTransaction",
            [
                signature,
                {
                    "encoding": "json",
                    "commitment": commitment,
                    "maxSupportedTransactionVersion": 0,
                },
            ],
            ConfirmedTransaction.parse,
            timeout_s,
        )

    async def get_recent_prioritization_fees(
        self, writable_accounts: Sequence[str] = (), *, timeout_s: float | None = None
    ) -> list[PrioritizationFee]:
        """Per-slot minimum CU prices (micro-lamports) paid to lock all `writable_accounts`."""
        return await self._parsed(
            "getRecentPrioritizationFees",
            [list(writable_accounts)[:128]],
            PrioritizationFee.parse_all,
            timeout_s,
        )


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer")
    return value
