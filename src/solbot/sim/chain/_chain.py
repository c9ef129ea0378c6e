"""SimChain: solders' LiteSVM with a slot clock, a blockhash queue and a transaction history.

LiteSVM executes real SVM transactions but knows no slots, no block heights and accepts only its
latest blockhash. Mainnet accepts any blockhash of the last 150 blocks and reports
`lastValidBlockHeight = block height + 150`, records pre/post token balances and keeps
transaction statuses; this class adds exactly that around LiteSVM. It is synchronous: the RPC and
PubSub servers call it from one event loop.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from solders.account import Account
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import TransactionErrorFieldless, TransactionErrorType

from solbot.sim.chain._spl import (
    NATIVE_MINT,
    TOKEN_PROGRAM_ID,
    decode_mint,
    decode_token_account,
    mint_account,
    parse_compute_budget,
    token_account,
    ui_amount_string,
)

__all__ = [
    "BLOCKHASH_VALIDITY_BLOCKS",
    "ChainListener",
    "PreflightFailure",
    "SimChain",
    "SimulationResult",
    "TokenBalance",
    "TransactionRecord",
    "error_json",
]

BLOCKHASH_VALIDITY_BLOCKS = 150
FINALIZATION_DEPTH = 32
LAMPORTS_PER_SIGNATURE = 5000
_PRIORITY_FEE_SLOTS = 150


def error_json(err: TransactionErrorType | None) -> Any:
    """A TransactionError as mainnet's JSON shows it (`"BlockhashNotFound"`, `{"InstructionError":
    [2, {"Custom": 6001}]}`), or None."""
    if err is None:
        return None
    return json.loads(RpcSimulateTransactionResult(err=err).to_json())["err"]


@dataclass(frozen=True, slots=True)
class TokenBalance:
    """One entry of `meta.preTokenBalances` / `postTokenBalances`."""

    account_index: int
    mint: Pubkey
    owner: Pubkey
    program_id: Pubkey
    amount: int
    decimals: int

    def to_json(self) -> dict[str, Any]:
        ui = self.amount / 10**self.decimals
        return {
            "accountIndex": self.account_index,
            "mint": str(self.mint),
            "owner": str(self.owner),
            "programId": str(self.program_id),
            "uiTokenAmount": {
                "amount": str(self.amount),
                "decimals": self.decimals,
                "uiAmount": ui if self.amount else None,
                "uiAmountString": ui_amount_string(self.amount, self.decimals),
            },
        }


@dataclass(slots=True)
class TransactionRecord:
    """A transaction the chain executed (successfully or not), as getTransaction reports it."""

    signature: Signature
    slot: int
    block_time: int
    transaction: VersionedTransaction
    err: TransactionErrorType | None
    logs: list[str]
    fee: int
    compute_units_consumed: int
    account_keys: list[Pubkey]
    writable: list[bool]
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[TokenBalance]
    post_token_balances: list[TokenBalance]
    unit_price_micro_lamports: int = 0

    @property
    def err_json(self) -> Any:
        return error_json(self.err)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    err: TransactionErrorType | None
    logs: list[str]
    units_consumed: int
    fee: int
    pre_token_balances: list[TokenBalance]
    post_token_balances: list[TokenBalance]
    post_accounts: dict[Pubkey, Account]

    @property
    def err_json(self) -> Any:
        return error_json(self.err)


class PreflightFailure(Exception):
    """sendTransaction's preflight simulation failed; nothing was executed and no fee was paid."""

    def __init__(self, message: str, simulation: SimulationResult) -> None:
        super().__init__(message)
        self.simulation = simulation


class ChainListener(Protocol):
    """What the PubSub server (and anything else that follows the chain) is told."""

    def on_slot(self, slot: int, parent: int, root: int) -> None: ...

    def on_transaction(self, record: TransactionRecord) -> None: ...

    def on_accounts_changed(self, changed: dict[Pubkey, Account | None], slot: int) -> None: ...


@dataclass(slots=True)
class _SlotFees:
    slot: int
    entries: list[tuple[int, frozenset[Pubkey]]] = field(default_factory=list)


class SimChain:
    """A Solana chain in one process: LiteSVM plus slots, block heights and history."""

    def __init__(
        self,
        *,
        start_slot: int = 300_000_000,
        slots_ahead_of_block_height: int = 20_000_000,
        history_limit: int = 200_000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._svm = (
            LiteSVM()
            .with_blockhash_check(False)  # we keep mainnet's 150-block window ourselves
            .with_sigverify(True)
        )
        self._wall_clock = wall_clock
        self._slot = start_slot
        self._block_height = start_slot - slots_ahead_of_block_height
        self._svm.warp_to_slot(self._slot)
        self._blockhash = self._svm.latest_blockhash()
        # blockhash -> block height at which it was the latest
        self._blockhashes: OrderedDict[Hash, int] = OrderedDict(
            {self._blockhash: self._block_height}
        )
        self._history: OrderedDict[Signature, TransactionRecord] = OrderedDict()
        self._history_limit = history_limit
        self._slot_fees: deque[_SlotFees] = deque(
            [_SlotFees(self._slot)], maxlen=_PRIORITY_FEE_SLOTS
        )
        self._listeners: list[ChainListener] = []
        self._rent_token_account = self._svm.minimum_balance_for_rent_exemption(165)
        self._rent_mint = self._svm.minimum_balance_for_rent_exemption(82)
        self.transactions_executed = 0
        self._ensure_native_mint()

    # ---- clock ------------------------------------------------------------------------------

    @property
    def slot(self) -> int:
        return self._slot

    @property
    def block_height(self) -> int:
        return self._block_height

    @property
    def finalized_slot(self) -> int:
        return self._slot - FINALIZATION_DEPTH

    def latest_blockhash(self) -> tuple[Hash, int]:
        """The newest blockhash and the last block height at which it is still valid."""
        return self._blockhash, self._block_height + BLOCKHASH_VALIDITY_BLOCKS

    def blockhash_valid(self, blockhash: Hash) -> bool:
        issued = self._blockhashes.get(blockhash)
        return issued is not None and self._block_height <= issued + BLOCKHASH_VALIDITY_BLOCKS

    def tick(self) -> int:
        """Produce the next slot: a new block, a new blockhash; listeners hear of it."""
        parent = self._slot
        self._slot += 1
        self._block_height += 1
        self._svm.warp_to_slot(self._slot)
        self._svm.expire_blockhash()
        clock = self._svm.get_clock()
        clock.unix_timestamp = int(self._wall_clock())
        self._svm.set_clock(clock)
        self._blockhash = self._svm.latest_blockhash()
        self._blockhashes[self._blockhash] = self._block_height
        while len(self._blockhashes) > BLOCKHASH_VALIDITY_BLOCKS + 10:
            self._blockhashes.popitem(last=False)
        self._slot_fees.append(_SlotFees(self._slot))
        for listener in list(self._listeners):
            listener.on_slot(self._slot, parent, self.finalized_slot)
        return self._slot

    # ---- listeners --------------------------------------------------------------------------

    def add_listener(self, listener: ChainListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ChainListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # ---- accounts -----------------------------------------------------------------------------

    def get_account(self, pubkey: Pubkey) -> Account | None:
        account = self._svm.get_account(pubkey)
        if account is None or (account.lamports == 0 and not account.data):
            return None
        return account

    def get_balance(self, pubkey: Pubkey) -> int:
        return self._svm.get_balance(pubkey) or 0

    def token_accounts_by_owner(
        self, owner: Pubkey, *, mint: Pubkey | None = None, program_id: Pubkey | None = None
    ) -> list[tuple[Pubkey, Account]]:
        programs = [program_id] if program_id is not None else [TOKEN_PROGRAM_ID]
        found: list[tuple[Pubkey, Account]] = []
        for program in programs:
            for address, account in self._svm.get_program_accounts(program):
                decoded = decode_token_account(account)
                if decoded is None or decoded.owner != owner:
                    continue
                if mint is not None and decoded.mint != mint:
                    continue
                found.append((address, account))
        return found

    def mint_decimals(self, mint: Pubkey) -> int | None:
        decoded = decode_mint(self.get_account(mint))
        return None if decoded is None else decoded.decimals

    def minimum_balance_for_rent_exemption(self, data_len: int) -> int:
        return self._svm.minimum_balance_for_rent_exemption(data_len)

    # ---- world building (the simnet's own setup, not reachable over RPC) ------------------------

    def set_account(self, pubkey: Pubkey, account: Account) -> None:
        self._svm.set_account(pubkey, account)
        self._notify_accounts({pubkey: account})

    def create_mint(self, address: Pubkey, decimals: int, authority: Pubkey | None) -> None:
        self.set_account(
            address, mint_account(decimals, 0, authority, self._rent_mint, TOKEN_PROGRAM_ID)
        )

    def credit_tokens(
        self, token_account_address: Pubkey, mint: Pubkey, owner: Pubkey, amount: int
    ) -> None:
        """Create or top up a token account, minting `amount` (supply follows)."""
        current = decode_token_account(self.get_account(token_account_address))
        balance = (current.amount if current is not None else 0) + amount
        mint_state = decode_mint(self.get_account(mint))
        if mint_state is None:
            raise ValueError(f"no mint at {mint}")
        if mint == NATIVE_MINT:
            account = token_account(
                mint,
                owner,
                balance,
                self._rent_token_account + balance,
                native_reserve=self._rent_token_account,
            )
        else:
            account = token_account(mint, owner, balance, self._rent_token_account)
            self._svm.set_account(
                mint,
                mint_account(
                    mint_state.decimals,
                    mint_state.supply + amount,
                    mint_state.mint_authority,
                    self._rent_mint,
                    TOKEN_PROGRAM_ID,
                ),
            )
        self.set_account(token_account_address, account)

    def airdrop(self, pubkey: Pubkey, lamports: int) -> Signature:
        result = self._svm.airdrop(pubkey, lamports)
        if not isinstance(result, TransactionMetadata):
            raise RuntimeError(f"airdrop failed: {result.err()}")
        self._notify_accounts({pubkey: self.get_account(pubkey)})
        return result.signature()

    def _ensure_native_mint(self) -> None:
        if self.get_account(NATIVE_MINT) is None:
            self.set_account(
                NATIVE_MINT, mint_account(9, 0, None, self._rent_mint, TOKEN_PROGRAM_ID)
            )

    # ---- transactions -------------------------------------------------------------------------

    def _keys(self, tx: VersionedTransaction) -> tuple[list[Pubkey], list[bool]]:
        message = tx.message
        keys = list(message.account_keys)
        header = message.header
        signed, unsigned_end = header.num_required_signatures, len(keys)
        writable = [
            i < signed - header.num_readonly_signed_accounts
            or (signed <= i < unsigned_end - header.num_readonly_unsigned_accounts)
            for i in range(len(keys))
        ]
        return keys, writable

    def _token_balances(
        self, keys: Iterable[Pubkey], accounts: dict[Pubkey, Account] | None = None
    ) -> list[TokenBalance]:
        """Token balances of `keys`, from `accounts` (a simulation's) or the chain's state."""
        balances: list[TokenBalance] = []
        decimals_cache: dict[Pubkey, int] = {}
        for index, key in enumerate(keys):
            account = (accounts or {}).get(key) or self._svm.get_account(key)
            decoded = decode_token_account(account)
            if decoded is None or account is None:
                continue
            decimals = decimals_cache.get(decoded.mint)
            if decimals is None:
                decimals = self.mint_decimals(decoded.mint) or 0
                decimals_cache[decoded.mint] = decimals
            balances.append(
                TokenBalance(
                    index, decoded.mint, decoded.owner, account.owner, decoded.amount, decimals
                )
            )
        return balances

    def _fee_for(self, tx: VersionedTransaction) -> tuple[int, int]:
        message = tx.message
        keys = list(message.account_keys)
        budget = parse_compute_budget(
            [(keys[ix.program_id_index], bytes(ix.data)) for ix in message.instructions]
        )
        limit = (
            budget.unit_limit
            if budget.unit_limit is not None
            else 200_000 * len(message.instructions)
        )
        priority = -(-budget.unit_price_micro_lamports * min(limit, 1_400_000) // 1_000_000)
        base = LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures
        return base + priority, budget.unit_price_micro_lamports

    def simulate(
        self,
        tx: VersionedTransaction,
        *,
        replace_recent_blockhash: bool = False,
        sig_verify: bool = True,
    ) -> SimulationResult:
        """Run `tx` without committing it, as simulateTransaction / preflight do.

        `sig_verify=False` simulates unsigned or partially signed transactions, as
        simulateTransaction does by default on mainnet.
        """
        keys, _ = self._keys(tx)
        if not replace_recent_blockhash and not self.blockhash_valid(tx.message.recent_blockhash):
            return SimulationResult(
                TransactionErrorFieldless.BlockhashNotFound, [], 0, 0, [], [], {}
            )
        pre = self._token_balances(keys)
        if sig_verify:
            result = self._svm.simulate_transaction(tx)
        else:
            self._svm.with_sigverify(False)
            try:
                result = self._svm.simulate_transaction(tx)
            finally:
                self._svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return SimulationResult(
                result.err(),
                list(meta.logs()),
                meta.compute_units_consumed(),
                meta.fee(),
                pre,
                pre,
                {},
            )
        meta = result.meta()
        post_accounts = dict(result.post_accounts())
        post = self._token_balances(keys, post_accounts)
        return SimulationResult(
            None,
            list(meta.logs()),
            meta.compute_units_consumed(),
            meta.fee(),
            pre,
            post,
            post_accounts,
        )

    def send(self, tx: VersionedTransaction, *, skip_preflight: bool = False) -> Signature:
        """Execute `tx` in the current slot and record it; return its signature.

        With preflight, a transaction that would fail is refused (PreflightFailure) and nothing is
        charged; without it, a failing transaction is executed, pays its fee, and is recorded with
        its error, as on mainnet. Resending a landed transaction returns its signature again.
        """
        signature = tx.signatures[0]
        if signature in self._history:
            if skip_preflight:
                return signature
            raise PreflightFailure(
                "Transaction simulation failed: This transaction has already been processed",
                SimulationResult(TransactionErrorFieldless.AlreadyProcessed, [], 0, 0, [], [], {}),
            )
        if not self.blockhash_valid(tx.message.recent_blockhash):
            raise PreflightFailure(
                "Transaction simulation failed: Blockhash not found",
                SimulationResult(TransactionErrorFieldless.BlockhashNotFound, [], 0, 0, [], [], {}),
            )
        if not skip_preflight:
            simulation = self.simulate(tx)
            if simulation.err is not None:
                raise PreflightFailure(_preflight_message(simulation), simulation)
        keys, writable = self._keys(tx)
        pre_balances = [self.get_balance(k) for k in keys]
        pre_tokens = self._token_balances(keys)
        result = self._svm.send_transaction(tx)
        err: TransactionErrorType | None
        if isinstance(result, FailedTransactionMetadata):
            err, meta = result.err(), result.meta()
            if meta.fee() == 0 and meta.compute_units_consumed() == 0 and not meta.logs():
                # rejected before execution (bad signature, unknown payer): never lands
                raise PreflightFailure(
                    f"Transaction failed: {err}",
                    SimulationResult(err, [], 0, 0, [], [], {}),
                )
        else:
            err, meta = None, result
        assert isinstance(meta, TransactionMetadata)
        _fee, unit_price = self._fee_for(tx)
        record = TransactionRecord(
            signature=signature,
            slot=self._slot,
            block_time=int(self._wall_clock()),
            transaction=tx,
            err=err,
            logs=list(meta.logs()),
            fee=meta.fee(),
            compute_units_consumed=meta.compute_units_consumed(),
            account_keys=keys,
            writable=writable,
            pre_balances=pre_balances,
            post_balances=[self.get_balance(k) for k in keys],
            pre_token_balances=pre_tokens,
            post_token_balances=self._token_balances(keys),
            unit_price_micro_lamports=unit_price,
        )
        self._remember(record)
        self._slot_fees[-1].entries.append(
            (unit_price, frozenset(k for k, w in zip(keys, writable, strict=True) if w))
        )
        self.transactions_executed += 1
        for listener in list(self._listeners):
            listener.on_transaction(record)
        self._notify_accounts(
            {k: self.get_account(k) for k, w in zip(keys, writable, strict=True) if w}
        )
        return signature

    def _remember(self, record: TransactionRecord) -> None:
        self._history[record.signature] = record
        while len(self._history) > self._history_limit:
            self._history.popitem(last=False)

    def _notify_accounts(self, changed: dict[Pubkey, Account | None]) -> None:
        for listener in list(self._listeners):
            listener.on_accounts_changed(changed, self._slot)

    def transaction(self, signature: Signature) -> TransactionRecord | None:
        return self._history.get(signature)

    def confirmation_status(self, record: TransactionRecord) -> tuple[str, int | None]:
        """("processed"|"confirmed"|"finalized", confirmations) for a recorded transaction."""
        depth = self._slot - record.slot
        if depth >= FINALIZATION_DEPTH:
            return "finalized", None
        if depth >= 1:
            return "confirmed", depth
        return "processed", 0

    def recent_prioritization_fees(self, accounts: list[Pubkey]) -> list[tuple[int, int]]:
        """(slot, fee) per recent slot: the lowest CU price paid by a transaction in that slot that
        locked every one of `accounts` writable (0 when none did), as mainnet reports it."""
        wanted = frozenset(accounts)
        out: list[tuple[int, int]] = []
        for slot_fees in self._slot_fees:
            prices = [price for price, locked in slot_fees.entries if wanted <= locked]
            out.append((slot_fees.slot, min(prices) if prices else 0))
        return out


def _preflight_message(simulation: SimulationResult) -> str:
    err = simulation.err_json
    if isinstance(err, dict) and "InstructionError" in err:
        index, detail = err["InstructionError"]
        if isinstance(detail, dict) and "Custom" in detail:
            return (
                f"Transaction simulation failed: Error processing Instruction {index}: "
                f"custom program error: {hex(detail['Custom'])}"
            )
        return f"Transaction simulation failed: Error processing Instruction {index}: {detail}"
    return f"Transaction simulation failed: {err}"
