"""The JSON-RPC methods of the simnet's node: a `SimChain` seen the way a Solana RPC node shows it.

Every method is synchronous (the chain is) and takes the JSON `params` list; it returns the
`result` or raises `RpcError`. The node honours the `rpc` faults that change *what* it answers
(`lag_slots`, `drop_rate`, `stop_including`); the HTTP layer handles latency, errors and limits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0, from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorFieldless

from solbot.sim.chain import (
    BLOCKHASH_VALIDITY_BLOCKS,
    PreflightFailure,
    SimChain,
    SimulationResult,
    TransactionRecord,
)
from solbot.sim.chain._spl import decode_mint, decode_token_account, ui_amount_string
from solbot.sim.faults import FaultBook
from solbot.sim.rpc._encoding import (
    TOKEN_PROGRAM_NAMES,
    Commitment,
    account_json,
    check_account_encoding,
    commitment_of,
    config_at,
    data_slice_of,
    decode_transaction,
    parse_hash,
    parse_pubkey,
    parse_signature,
    transaction_error_message,
    transaction_json,
    transaction_version,
)
from solbot.sim.rpc._errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    MIN_CONTEXT_SLOT_NOT_REACHED,
    NODE_UNHEALTHY,
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    SIGNATURE_VERIFICATION_FAILURE,
    UNSUPPORTED_TRANSACTION_VERSION,
    RpcError,
    invalid_params,
)

__all__ = ["API_VERSION", "RpcNode"]

API_VERSION = "2.2.16"
FEATURE_SET = 3_294_202_862
SLOTS_PER_EPOCH = 432_000
# A node keeps statuses of the last 300 slots in its status cache; older ones need
# `searchTransactionHistory` (the ledger).
STATUS_CACHE_SLOTS = 300
HEALTH_CHECK_SLOT_DISTANCE = 128
MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256
MAX_PRIORITIZATION_FEE_ACCOUNTS = 128
LAMPORTS_PER_SIGNATURE = 5000
_COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
_FAUCET_FLOAT = 10**15
_SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
_BLOCKHASH_RING = 1024


def _seeded_keypair(label: bytes) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(b"solbot-simnet " + label).digest())


GENESIS_HASH = Hash(hashlib.sha256(b"solbot-simnet genesis").digest())


@dataclass(frozen=True, slots=True)
class _Block:
    block_height: int
    slot: int
    blockhash: Hash


class RpcNode:
    """The simnet's RPC node. `call(method, params)` answers one JSON-RPC call."""

    def __init__(self, chain: SimChain, faults: FaultBook) -> None:
        self._chain = chain
        self._faults = faults
        self._faucet = _seeded_keypair(b"faucet")
        self.identity = _seeded_keypair(b"identity").pubkey()
        blockhash, _ = chain.latest_blockhash()
        self._blocks: deque[_Block] = deque(
            [_Block(chain.block_height, chain.slot, blockhash)], maxlen=_BLOCKHASH_RING
        )
        self._block_heights: dict[Hash, int] = {blockhash: chain.block_height}
        self._airdrops = 0
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            "getHealth": self.get_health,
            "getSlot": self.get_slot,
            "getBlockHeight": self.get_block_height,
            "getLatestBlockhash": self.get_latest_blockhash,
            "isBlockhashValid": self.is_blockhash_valid,
            "getBalance": self.get_balance,
            "getAccountInfo": self.get_account_info,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getFeeForMessage": self.get_fee_for_message,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "getSignatureStatuses": self.get_signature_statuses,
            "getTransaction": self.get_transaction,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
            "requestAirdrop": self.request_airdrop,
            "getVersion": self.get_version,
            "getGenesisHash": self.get_genesis_hash,
            "getIdentity": self.get_identity,
            "getEpochInfo": self.get_epoch_info,
            "getTransactionCount": self.get_transaction_count,
        }
        chain.add_listener(self)

    # ---- ChainListener: remember recent blocks, for lagging and committed views ------------------

    def on_slot(self, slot: int, parent: int, root: int) -> None:
        blockhash, _ = self._chain.latest_blockhash()
        if len(self._blocks) == self._blocks.maxlen:
            oldest = self._blocks[0]
            self._block_heights.pop(oldest.blockhash, None)
        self._blocks.append(_Block(self._chain.block_height, slot, blockhash))
        self._block_heights[blockhash] = self._chain.block_height

    def on_transaction(self, record: TransactionRecord) -> None:
        pass

    def on_accounts_changed(self, changed: dict[Pubkey, Account | None], slot: int) -> None:
        pass

    # ---- dispatch ---------------------------------------------------------------------------

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._methods)

    def call(self, method: str, params: list[Any]) -> Any:
        handler = self._methods.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        return handler(params)

    # ---- views ------------------------------------------------------------------------------

    @property
    def lag_slots(self) -> int:
        return max(0, min(self._faults.get("rpc").lag_slots, self._chain.slot))

    def _depth(self, commitment: Commitment) -> int:
        if commitment == "processed":
            return 0
        if commitment == "confirmed":
            return 1
        return self._chain.slot - self._chain.finalized_slot

    def _slot_at(self, commitment: Commitment) -> int:
        return max(0, self._chain.slot - self.lag_slots - self._depth(commitment))

    def _block_height_at(self, commitment: Commitment) -> int:
        return max(0, self._chain.block_height - self.lag_slots - self._depth(commitment))

    def _block_at(self, block_height: int) -> _Block:
        newest = self._blocks[-1]
        index = len(self._blocks) - 1 - (newest.block_height - block_height)
        return self._blocks[max(0, min(index, len(self._blocks) - 1))]

    def _blockhash_known_at(self, blockhash: Hash, block_height: int) -> bool:
        """Whether a node whose newest block is `block_height` knows `blockhash` as valid."""
        issued = self._block_heights.get(blockhash)
        if issued is not None and issued > block_height:
            return False  # produced after what this (lagging) node has seen
        return self._chain.blockhash_valid(blockhash)

    @staticmethod
    def _context(slot: int) -> dict[str, Any]:
        return {"slot": slot, "apiVersion": API_VERSION}

    def _with_context(self, slot: int, value: Any) -> dict[str, Any]:
        return {"context": self._context(slot), "value": value}

    @staticmethod
    def _check_min_context_slot(config: dict[str, Any], context_slot: int) -> None:
        wanted = config.get("minContextSlot")
        if wanted is None:
            return
        if not isinstance(wanted, int) or isinstance(wanted, bool):
            raise invalid_params("Invalid params: minContextSlot must be an integer")
        if context_slot < wanted:
            raise RpcError(
                MIN_CONTEXT_SLOT_NOT_REACHED,
                "Minimum context slot has not been reached",
                {"contextSlot": context_slot},
            )

    def _committed_slot(self, config: dict[str, Any]) -> int:
        slot = self._slot_at(commitment_of(config))
        self._check_min_context_slot(config, slot)
        return slot

    def _mint_decimals(self, mint: Pubkey) -> int | None:
        return self._chain.mint_decimals(mint)

    # ---- cluster ----------------------------------------------------------------------------

    def get_health(self, params: list[Any]) -> Any:
        behind = self.lag_slots
        if behind > HEALTH_CHECK_SLOT_DISTANCE:
            raise RpcError(
                NODE_UNHEALTHY, f"Node is behind by {behind} slots", {"numSlotsBehind": behind}
            )
        return "ok"

    def get_version(self, params: list[Any]) -> Any:
        return {"feature-set": FEATURE_SET, "solana-core": API_VERSION}

    def get_genesis_hash(self, params: list[Any]) -> Any:
        return str(GENESIS_HASH)

    def get_identity(self, params: list[Any]) -> Any:
        return {"identity": str(self.identity)}

    def get_slot(self, params: list[Any]) -> Any:
        return self._committed_slot(config_at(params, 0))

    def get_block_height(self, params: list[Any]) -> Any:
        config = config_at(params, 0)
        self._committed_slot(config)
        return self._block_height_at(commitment_of(config))

    def get_transaction_count(self, params: list[Any]) -> Any:
        self._committed_slot(config_at(params, 0))
        return self._chain.transactions_executed

    def get_epoch_info(self, params: list[Any]) -> Any:
        config = config_at(params, 0)
        slot = self._committed_slot(config)
        return {
            "absoluteSlot": slot,
            "blockHeight": self._block_height_at(commitment_of(config)),
            "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": self._chain.transactions_executed,
        }

    def get_latest_blockhash(self, params: list[Any]) -> Any:
        config = config_at(params, 0)
        slot = self._committed_slot(config)
        block = self._block_at(self._block_height_at(commitment_of(config)))
        return self._with_context(
            slot,
            {
                "blockhash": str(block.blockhash),
                "lastValidBlockHeight": block.block_height + BLOCKHASH_VALIDITY_BLOCKS,
            },
        )

    def is_blockhash_valid(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing blockhash")
        blockhash = parse_hash(params[0])
        config = config_at(params, 1)
        slot = self._committed_slot(config)
        valid = self._blockhash_known_at(blockhash, self._block_height_at(commitment_of(config)))
        return self._with_context(slot, valid)

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> Any:
        if not params or not isinstance(params[0], int) or isinstance(params[0], bool):
            raise invalid_params("Invalid params: expected the account data length (usize)")
        if not 0 <= params[0] <= 10 * 1024 * 1024:
            raise invalid_params("Invalid params: data length out of range")
        return self._chain.minimum_balance_for_rent_exemption(params[0])

    def get_fee_for_message(self, params: list[Any]) -> Any:
        if not params or not isinstance(params[0], str):
            raise invalid_params("Invalid params: expected a base64 encoded message")
        try:
            raw = base64.b64decode(params[0], validate=True)
            message = from_bytes_versioned(raw)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise invalid_params(f"invalid base64 encoding: {exc}") from None
        config = config_at(params, 1)
        slot = self._committed_slot(config)
        if not self._blockhash_known_at(
            message.recent_blockhash, self._block_height_at(commitment_of(config))
        ):
            return self._with_context(slot, None)
        return self._with_context(slot, message_fee(message))

    def get_recent_prioritization_fees(self, params: list[Any]) -> Any:
        raw = params[0] if params and params[0] is not None else []
        if not isinstance(raw, list):
            raise invalid_params("Invalid params: expected an array of account addresses")
        if len(raw) > MAX_PRIORITIZATION_FEE_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_PRIORITIZATION_FEE_ACCOUNTS}")
        accounts = [parse_pubkey(a) for a in raw]
        newest = self._slot_at("processed")
        return [
            {"prioritizationFee": fee, "slot": slot}
            for slot, fee in self._chain.recent_prioritization_fees(accounts)
            if slot <= newest
        ]

    # ---- accounts ---------------------------------------------------------------------------

    def get_balance(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing pubkey")
        pubkey = parse_pubkey(params[0])
        slot = self._committed_slot(config_at(params, 1))
        return self._with_context(slot, self._chain.get_balance(pubkey))

    def _encoded_account(self, pubkey: Pubkey, config: dict[str, Any]) -> Any:
        encoding = check_account_encoding(config)
        return account_json(
            self._chain.get_account(pubkey),
            encoding,
            self._mint_decimals,
            data_slice=data_slice_of(config),
        )

    def get_account_info(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing pubkey")
        pubkey = parse_pubkey(params[0])
        config = config_at(params, 1)
        slot = self._committed_slot(config)
        return self._with_context(slot, self._encoded_account(pubkey, config))

    def get_multiple_accounts(self, params: list[Any]) -> Any:
        if not params or not isinstance(params[0], list):
            raise invalid_params("Invalid params: expected an array of pubkeys")
        if len(params[0]) > MAX_MULTIPLE_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        pubkeys = [parse_pubkey(p) for p in params[0]]
        config = config_at(params, 1)
        slot = self._committed_slot(config)
        return self._with_context(slot, [self._encoded_account(p, config) for p in pubkeys])

    def get_token_accounts_by_owner(self, params: list[Any]) -> Any:
        if len(params) < 2:
            raise invalid_params("Invalid params: expected owner and {mint} or {programId}")
        owner = parse_pubkey(params[0])
        token_filter = params[1]
        if not isinstance(token_filter, dict) or len(token_filter) != 1:
            raise invalid_params("Invalid params: expected {mint} or {programId} filter")
        config = config_at(params, 2)
        encoding = check_account_encoding(config)
        data_slice = data_slice_of(config)
        if "mint" in token_filter:
            mint = parse_pubkey(token_filter["mint"])
            mint_account = self._chain.get_account(mint)
            if decode_mint(mint_account) is None or mint_account is None:
                raise invalid_params("Invalid param: could not find mint")
            found = self._chain.token_accounts_by_owner(
                owner, mint=mint, program_id=mint_account.owner
            )
        elif "programId" in token_filter:
            program_id = parse_pubkey(token_filter["programId"])
            if program_id not in TOKEN_PROGRAM_NAMES:
                raise invalid_params("Invalid param: unrecognized Token program id")
            found = self._chain.token_accounts_by_owner(owner, program_id=program_id)
        else:
            raise invalid_params("Invalid params: expected {mint} or {programId} filter")
        slot = self._committed_slot(config)
        return self._with_context(
            slot,
            [
                {
                    "account": account_json(
                        account, encoding, self._mint_decimals, data_slice=data_slice
                    ),
                    "pubkey": str(address),
                }
                for address, account in found
            ],
        )

    def get_token_account_balance(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing pubkey")
        pubkey = parse_pubkey(params[0])
        config = config_at(params, 1)
        slot = self._committed_slot(config)
        account = self._chain.get_account(pubkey)
        if account is None:
            raise invalid_params("Invalid param: could not find account")
        token = decode_token_account(account)
        if token is None:
            raise invalid_params("Invalid param: not a Token account")
        decimals = self._mint_decimals(token.mint)
        if decimals is None:
            raise invalid_params("Invalid param: could not find mint")
        return self._with_context(
            slot,
            {
                "amount": str(token.amount),
                "decimals": decimals,
                "uiAmount": token.amount / 10**decimals,
                "uiAmountString": ui_amount_string(token.amount, decimals),
            },
        )

    # ---- transactions -----------------------------------------------------------------------

    def _visible(self, signature: Signature) -> TransactionRecord | None:
        record = self._chain.transaction(signature)
        if record is None or record.slot > self._slot_at("processed"):
            return None  # a lagging node has not seen it yet
        return record

    def _status(self, record: TransactionRecord) -> tuple[Commitment, int | None]:
        depth = self._slot_at("processed") - record.slot
        if depth >= self._depth("finalized"):
            return "finalized", None
        if depth >= 1:
            return "confirmed", depth
        return "processed", 0

    def get_signature_statuses(self, params: list[Any]) -> Any:
        if not params or not isinstance(params[0], list):
            raise invalid_params("Invalid params: expected an array of signatures")
        if len(params[0]) > MAX_SIGNATURE_STATUSES:
            raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        signatures = [parse_signature(s) for s in params[0]]
        config = config_at(params, 1)
        search_history = bool(config.get("searchTransactionHistory", False))
        newest = self._slot_at("processed")
        statuses: list[Any] = []
        for signature in signatures:
            record = self._visible(signature)
            if record is None or (not search_history and newest - record.slot > STATUS_CACHE_SLOTS):
                statuses.append(None)
                continue
            level, confirmations = self._status(record)
            err = record.err_json
            statuses.append(
                {
                    "confirmationStatus": level,
                    "confirmations": confirmations,
                    "err": err,
                    "slot": record.slot,
                    "status": {"Ok": None} if err is None else {"Err": err},
                }
            )
        return self._with_context(newest, statuses)

    def get_transaction(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing signature")
        signature = parse_signature(params[0])
        config: dict[str, Any]
        if len(params) > 1 and isinstance(params[1], str):
            config = {"encoding": params[1]}  # the deprecated positional encoding
        else:
            config = config_at(params, 1)
        commitment = commitment_of(config)
        if commitment == "processed":
            raise invalid_params("Method does not support commitment below `confirmed`")
        encoding = config.get("encoding") or "json"
        if encoding not in ("json", "jsonParsed", "base64", "base58"):
            raise invalid_params(
                f"Invalid params: unknown variant `{encoding}`, expected one of `binary`, "
                "`base64`, `base58`, `json`, `jsonParsed`"
            )
        max_version = config.get("maxSupportedTransactionVersion")
        if max_version is not None and (
            not isinstance(max_version, int) or isinstance(max_version, bool) or max_version < 0
        ):
            raise invalid_params("Invalid params: maxSupportedTransactionVersion must be >= 0")
        record = self._visible(signature)
        if record is None:
            return None
        if self._slot_at("processed") - record.slot < self._depth(commitment):
            return None
        version = transaction_version(record.transaction)
        if version != "legacy":
            assert isinstance(version, int)
            if max_version is None or version > max_version:
                raise RpcError(
                    UNSUPPORTED_TRANSACTION_VERSION,
                    f"Transaction version ({version}) is not supported by the requesting client. "
                    "Please try the request again with the following configuration parameter: "
                    f'"maxSupportedTransactionVersion": {version}',
                )
        err = record.err_json
        result: dict[str, Any] = {
            "blockTime": record.block_time,
            "meta": {
                "computeUnitsConsumed": record.compute_units_consumed,
                "err": err,
                "fee": record.fee,
                "innerInstructions": [],
                "loadedAddresses": {"readonly": [], "writable": []},
                "logMessages": record.logs,
                "postBalances": record.post_balances,
                "postTokenBalances": [b.to_json() for b in record.post_token_balances],
                "preBalances": record.pre_balances,
                "preTokenBalances": [b.to_json() for b in record.pre_token_balances],
                "rewards": [],
                "status": {"Ok": None} if err is None else {"Err": err},
            },
            "slot": record.slot,
            "transaction": transaction_json(record.transaction, encoding),
        }
        if max_version is not None:
            result["version"] = version
        return result

    def _simulation_json(
        self,
        tx: VersionedTransaction,
        simulation: SimulationResult,
        *,
        accounts: list[dict[str, Any] | None] | None = None,
        inner_instructions: bool = False,
        replacement: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        keys = list(tx.message.account_keys)
        pre_balances = [self._chain.get_balance(k) for k in keys]
        post_balances = [
            (simulation.post_accounts[k].lamports if k in simulation.post_accounts else balance)
            for k, balance in zip(keys, pre_balances, strict=True)
        ]
        return {
            "accounts": accounts,
            "err": simulation.err_json,
            "fee": simulation.fee,
            "innerInstructions": [] if inner_instructions else None,
            "loadedAccountsDataSize": None,
            "loadedAddresses": None,
            "logs": simulation.logs,
            "postBalances": post_balances,
            "postTokenBalances": [b.to_json() for b in simulation.post_token_balances],
            "preBalances": pre_balances,
            "preTokenBalances": [b.to_json() for b in simulation.pre_token_balances],
            "replacementBlockhash": replacement,
            "returnData": None,
            "unitsConsumed": simulation.units_consumed,
        }

    def _preflight_error(
        self, tx: VersionedTransaction, simulation: SimulationResult, fallback: str
    ) -> RpcError:
        text = transaction_error_message(simulation.err_json)
        message = f"Transaction simulation failed: {text}" if text else fallback
        return RpcError(
            SEND_TRANSACTION_PREFLIGHT_FAILURE, message, self._simulation_json(tx, simulation)
        )

    @staticmethod
    def _verify_signatures(tx: VersionedTransaction) -> None:
        if not all(tx.verify_with_results()):
            raise RpcError(
                SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
            )

    def _blockhash_unknown(self) -> SimulationResult:
        return SimulationResult(TransactionErrorFieldless.BlockhashNotFound, [], 0, 0, [], [], {})

    def send_transaction(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing transaction")
        config = config_at(params, 1)
        tx = decode_transaction(params[0], config.get("encoding") or "base58")
        skip_preflight = bool(config.get("skipPreflight", False))
        max_retries = config.get("maxRetries")
        if max_retries is not None and (
            not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0
        ):
            raise invalid_params("Invalid params: maxRetries must be an integer >= 0")
        preflight_commitment = commitment_of({"commitment": config.get("preflightCommitment")})
        self._check_min_context_slot(config, self._slot_at(preflight_commitment))
        self._verify_signatures(tx)
        signature = tx.signatures[0]
        fault = self._faults.get("rpc")
        # A lagging node runs preflight on its old bank: it does not know newer blockhashes.
        stale_view = self.lag_slots > 0 and not self._blockhash_known_at(
            tx.message.recent_blockhash, self._block_height_at("processed")
        )
        if not skip_preflight and stale_view:
            raise self._preflight_error(
                tx, self._blockhash_unknown(), "Transaction simulation failed: Blockhash not found"
            )
        dropped = fault.stop_including or self._faults.chance(fault.drop_rate)
        if dropped:
            # The node accepted it and answers its signature; the leader never includes it.
            if not skip_preflight:
                simulation = self._chain.simulate(tx)
                if simulation.err is not None:
                    raise self._preflight_error(tx, simulation, "Transaction simulation failed")
            return str(signature)
        try:
            self._chain.send(tx, skip_preflight=skip_preflight)
        except PreflightFailure as failure:
            if skip_preflight:
                # Forwarded without preflight: a transaction that cannot land is silently lost.
                return str(signature)
            raise self._preflight_error(tx, failure.simulation, str(failure)) from None
        return str(signature)

    def simulate_transaction(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing transaction")
        config = config_at(params, 1)
        tx = decode_transaction(params[0], config.get("encoding") or "base58")
        sig_verify = bool(config.get("sigVerify", False))
        replace = bool(config.get("replaceRecentBlockhash", False))
        if sig_verify and replace:
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        slot = self._committed_slot(config)
        if sig_verify:
            self._verify_signatures(tx)
        addresses: list[Pubkey] | None = None
        accounts_encoding = "base64"
        accounts_config = config.get("accounts")
        if accounts_config is not None:
            if not isinstance(accounts_config, dict) or not isinstance(
                accounts_config.get("addresses"), list
            ):
                raise invalid_params("Invalid params: accounts must be {addresses, encoding}")
            addresses = [parse_pubkey(a) for a in accounts_config["addresses"]]
            if len(addresses) > len(tx.message.account_keys):
                raise invalid_params(
                    f"Too many accounts provided; max {len(tx.message.account_keys)}"
                )
            accounts_encoding = check_account_encoding(accounts_config, default="base64")
            if accounts_encoding in ("binary", "base58"):
                raise invalid_params("base58 encoding not supported")
        replacement: dict[str, Any] | None = None
        if replace:
            blockhash, last_valid = self._chain.latest_blockhash()
            replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        if not replace and not self._blockhash_known_at(
            tx.message.recent_blockhash, self._block_height_at("processed")
        ):
            simulation = self._blockhash_unknown()
        else:
            simulation = self._chain.simulate(
                tx, replace_recent_blockhash=replace, sig_verify=sig_verify
            )
        accounts: list[dict[str, Any] | None] | None = None
        if addresses is not None:
            if simulation.err is not None:
                accounts = [None for _ in addresses]
            else:
                accounts = [
                    account_json(
                        simulation.post_accounts.get(a) or self._chain.get_account(a),
                        accounts_encoding,
                        self._mint_decimals,
                    )
                    for a in addresses
                ]
        value = self._simulation_json(
            tx,
            simulation,
            accounts=accounts,
            inner_instructions=bool(config.get("innerInstructions", False)),
            replacement=replacement,
        )
        return self._with_context(slot, value)

    def request_airdrop(self, params: list[Any]) -> Any:
        if len(params) < 2:
            raise invalid_params("Invalid params: expected pubkey and lamports")
        recipient = parse_pubkey(params[0])
        lamports = params[1]
        if not isinstance(lamports, int) or isinstance(lamports, bool) or lamports <= 0:
            raise invalid_params("Invalid params: lamports must be a positive integer")
        if lamports > 2**63:
            raise invalid_params("Invalid params: lamports out of range")
        faucet = self._faucet.pubkey()
        if self._chain.get_balance(faucet) < lamports + 10**9:
            # The faucet's lamports come from nowhere (a test validator's faucet is funded at
            # genesis); LiteSVM's own airdrop pool is finite and shared with the market.
            self._chain.set_account(
                faucet,
                Account(
                    lamports=lamports + _FAUCET_FLOAT,
                    data=b"",
                    owner=_SYSTEM_PROGRAM,
                    executable=False,
                ),
            )
        blockhash, _ = self._chain.latest_blockhash()
        instructions = [
            transfer(TransferParams(from_pubkey=faucet, to_pubkey=recipient, lamports=lamports))
        ]
        tx = VersionedTransaction(
            Message.new_with_blockhash(instructions, faucet, blockhash), [self._faucet]
        )
        while self._chain.transaction(tx.signatures[0]) is not None:
            # the same airdrop twice in one block would have the same signature: make it unique
            self._airdrops += 1
            unique = [set_compute_unit_limit(200_000 + self._airdrops), *instructions]
            tx = VersionedTransaction(
                Message.new_with_blockhash(unique, faucet, blockhash), [self._faucet]
            )
        try:
            self._chain.send(tx)
        except PreflightFailure as failure:
            raise RpcError(
                INTERNAL_ERROR,
                "airdrop request failed. This can happen when the rate limit is reached.",
                {"err": failure.simulation.err_json},
            ) from None
        return str(tx.signatures[0])


def message_fee(message: Message | MessageV0 | Any) -> int:
    """Base fee plus priority fee of a message, as the chain charges it."""
    keys = list(message.account_keys)
    unit_limit: int | None = None
    unit_price = 0
    for ix in message.instructions:
        if keys[ix.program_id_index] != _COMPUTE_BUDGET_PROGRAM:
            continue
        data = bytes(ix.data)
        if data[:1] == b"\x02" and len(data) >= 5:
            unit_limit = struct.unpack_from("<I", data, 1)[0]
        elif data[:1] == b"\x03" and len(data) >= 9:
            unit_price = struct.unpack_from("<Q", data, 1)[0]
    limit = unit_limit if unit_limit is not None else 200_000 * len(message.instructions)
    priority = -(-unit_price * min(limit, 1_400_000) // 1_000_000)
    return LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures + priority
