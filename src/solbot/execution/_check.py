"""The check a venue's transaction must pass before the user's key touches it (pure).

Inputs: the unsigned transaction, the states of the user's accounts before (read from the node)
and after (the simulation's `accounts`), and what the trade allows. Rules:

- the fee payer is the user;
- only expected programs are invoked at the top level (compute budget, system, token,
  token-2022, associated token account, memo, and the venue's own programs);
- the CU price is not absurd and the priority fee is within the user's cap;
- the user's SOL leaves only to the user's own token accounts (wrapping) or, within the allowed
  tip, to a known tip account; no other system instruction than transfer / advance-nonce;
- no token approval, authority change, or closing to someone else; after simulation no user
  token account has a new owner, delegate or close authority;
- by the simulated balances, the user spends at most `max_in_amount` (plus fees) and receives at
  least `min_out_amount`, and no other token of the user's decreases.

Anything else is a violation: the executor refuses to sign and logs a security event.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from solbot.execution._budget import COMPUTE_BUDGET_PROGRAM, read_compute_budget
from solbot.rpc import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    AccountState,
    Simulation,
    TokenAccountState,
    decode_token_account,
)

__all__ = [
    "BASE_PROGRAMS",
    "JITO_TIP_ACCOUNTS",
    "NATIVE_MINT",
    "VENUE_PROGRAMS",
    "CheckExpectations",
    "CheckResult",
    "TransactionCheck",
    "Violation",
    "associated_token_address",
]

NATIVE_MINT = "So11111111111111111111111111111111111111112"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"  # noqa: S105 - an address
MEMO_PROGRAMS = frozenset(
    {"MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"}
)
BASE_PROGRAMS = frozenset(
    {
        COMPUTE_BUDGET_PROGRAM,
        SYSTEM_PROGRAM,
        TOKEN_PROGRAM,
        TOKEN_2022_PROGRAM,
        ASSOCIATED_TOKEN_PROGRAM,
        *MEMO_PROGRAMS,
    }
)
#: The venues' own on-chain programs (wire-formats §2.7, §5.2). DFlow's program id is not in our
#: references: until it is, a DFlow transaction invoking its program is refused (safe default).
VENUE_PROGRAMS: Mapping[str, frozenset[str]] = {
    "jupiter": frozenset({"JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"}),
    "dflow": frozenset(),
    "hashflow": frozenset({"CRhtqXk98ATqo1R8gLg7qcpEMuvoPzqD5GNicPPqLMD"}),
}
#: Jito's tip accounts: the only place a tip may go.
JITO_TIP_ACCOUNTS = frozenset(
    {
        "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",
        "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
        "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY",
        "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
        "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh",
        "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
        "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL",
        "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
    }
)
#: A CU price above this is absurd whatever the user's cap (82 billion was seen, §2.10).
DEFAULT_MAX_CU_PRICE_MICRO_LAMPORTS = 10_000_000

_SYSTEM_TRANSFER = 2
_SYSTEM_ADVANCE_NONCE = 4
_TOKEN_APPROVE = 4
_TOKEN_SET_AUTHORITY = 6
_TOKEN_CLOSE_ACCOUNT = 9
_TOKEN_APPROVE_CHECKED = 13


def associated_token_address(owner: str, mint: str, token_program: str = TOKEN_PROGRAM) -> str:
    """The owner's associated token account for `mint` under `token_program` (a PDA)."""
    seeds = [
        bytes(Pubkey.from_string(owner)),
        bytes(Pubkey.from_string(token_program)),
        bytes(Pubkey.from_string(mint)),
    ]
    address, _bump = Pubkey.find_program_address(
        seeds, Pubkey.from_string(ASSOCIATED_TOKEN_PROGRAM)
    )
    return str(address)


def user_associated_accounts(user: str, mints: set[str]) -> frozenset[str]:
    """The user's associated token accounts for `mints`, under both token programs."""
    return frozenset(
        associated_token_address(user, mint, program)
        for mint in mints
        for program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
    )


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: `rule` is a stable name, `detail` a sentence for the security log."""

    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(v.rule for v in self.violations)


@dataclass(frozen=True, slots=True)
class CheckExpectations:
    """What the trade allows. Amounts in base units; `max_in_amount` of `input_mint`,
    `min_out_amount` of `output_mint`; fees on top of them in lamports."""

    user: str
    input_mint: str
    output_mint: str
    max_in_amount: int
    min_out_amount: int
    max_priority_fee_lamports: int
    venue_programs: frozenset[str] = frozenset()
    max_compute_unit_price_micro_lamports: int = DEFAULT_MAX_CU_PRICE_MICRO_LAMPORTS
    max_tip_lamports: int = 0
    tip_accounts: frozenset[str] = field(default=JITO_TIP_ACCOUNTS)

    @property
    def allowed_programs(self) -> frozenset[str]:
        return BASE_PROGRAMS | self.venue_programs


@dataclass(slots=True)
class _Findings:
    violations: list[Violation] = field(default_factory=list)

    def add(self, rule: str, detail: str) -> None:
        self.violations.append(Violation(rule, detail))


class TransactionCheck:
    """`TransactionCheck().verify(tx, expectations, watched=..., pre=..., simulation=...)`.

    `watched` are the addresses whose states `pre` (before) and `simulation.accounts` (after)
    give, in the same order; they must include the user and the user's token accounts the
    transaction may touch.
    """

    def verify(
        self,
        transaction: VersionedTransaction,
        expectations: CheckExpectations,
        *,
        watched: Sequence[str],
        pre: Sequence[AccountState | None],
        simulation: Simulation,
    ) -> CheckResult:
        findings = _Findings()
        message = transaction.message
        keys = [str(k) for k in message.account_keys]
        user = expectations.user
        budget = read_compute_budget(message)

        if not keys or keys[0] != user:
            findings.add("fee_payer", f"the fee payer is {keys[0] if keys else None}, not the user")
        if budget.unit_price_micro_lamports > expectations.max_compute_unit_price_micro_lamports:
            findings.add(
                "compute_unit_price",
                f"CU price {budget.unit_price_micro_lamports} micro-lamports is above the "
                f"{expectations.max_compute_unit_price_micro_lamports} limit",
            )
        if budget.priority_fee_lamports > expectations.max_priority_fee_lamports:
            findings.add(
                "priority_fee",
                f"priority fee {budget.priority_fee_lamports} lamports is above the user's "
                f"cap of {expectations.max_priority_fee_lamports}",
            )

        post_list = simulation.accounts
        if post_list is None or len(post_list) != len(watched) or len(pre) != len(watched):
            findings.add("simulation", "the simulation did not return the user's account states")
            return CheckResult(tuple(findings.violations))
        pre_by = dict(zip(watched, pre, strict=True))
        post_by = dict(zip(watched, post_list, strict=True))
        # The user's own token accounts: those the states show, and its associated accounts for
        # the trade's mints (a wSOL account is created and closed within the transaction).
        user_token_accounts = _user_token_accounts(user, pre_by, post_by) | (
            user_associated_accounts(
                user, {expectations.input_mint, expectations.output_mint, NATIVE_MINT}
            )
        )

        tips = self._instructions(transaction, expectations, keys, user_token_accounts, findings)
        self._authorities(user, pre_by, post_by, findings)
        self._balances(expectations, budget.fee_lamports, tips, pre_by, post_by, findings)
        return CheckResult(tuple(findings.violations))

    @staticmethod
    def _instructions(
        transaction: VersionedTransaction,
        expectations: CheckExpectations,
        keys: list[str],
        user_token_accounts: frozenset[str],
        findings: _Findings,
    ) -> int:
        """Top-level instruction rules; returns the lamports tipped to known tip accounts."""
        user = expectations.user
        allowed = expectations.allowed_programs
        tips = 0
        for position, ix in enumerate(transaction.message.instructions):
            program = keys[ix.program_id_index]
            data = bytes(ix.data)
            accounts = [keys[i] if i < len(keys) else "<lookup>" for i in bytes(ix.accounts)]
            if program not in allowed:
                findings.add("unknown_program", f"instruction {position} invokes {program}")
                continue
            if program == SYSTEM_PROGRAM:
                tag = struct.unpack_from("<I", data, 0)[0] if len(data) >= 4 else -1
                if tag == _SYSTEM_ADVANCE_NONCE:
                    continue
                if tag != _SYSTEM_TRANSFER or len(data) < 12 or len(accounts) < 2:
                    findings.add(
                        "system_instruction",
                        f"instruction {position} is a system instruction other than a transfer",
                    )
                    continue
                (lamports,) = struct.unpack_from("<Q", data, 4)
                source, destination = accounts[0], accounts[1]
                if source != user or destination == user or destination in user_token_accounts:
                    continue
                if destination in expectations.tip_accounts:
                    tips += lamports
                    continue
                findings.add(
                    "transfer_to_stranger",
                    f"instruction {position} sends {lamports} lamports of the user's to "
                    f"{destination}",
                )
            elif program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) and data:
                tag = data[0]
                if tag in (_TOKEN_APPROVE, _TOKEN_APPROVE_CHECKED, _TOKEN_SET_AUTHORITY):
                    findings.add(
                        "token_authority",
                        f"instruction {position} approves a delegate or changes an authority",
                    )
                elif (
                    tag == _TOKEN_CLOSE_ACCOUNT
                    and len(accounts) >= 2
                    and accounts[0] in user_token_accounts
                    and accounts[1] != user
                ):
                    findings.add(
                        "close_to_stranger",
                        f"instruction {position} closes a user token account into {accounts[1]}",
                    )
        if tips > expectations.max_tip_lamports:
            findings.add(
                "tip",
                f"tips of {tips} lamports exceed the allowed {expectations.max_tip_lamports}",
            )
        return min(tips, expectations.max_tip_lamports)

    @staticmethod
    def _authorities(
        user: str,
        pre_by: Mapping[str, AccountState | None],
        post_by: Mapping[str, AccountState | None],
        findings: _Findings,
    ) -> None:
        for address, before_account in pre_by.items():
            before = _token(before_account)
            after = _token(post_by.get(address))
            if before is None or before.owner != user:
                if after is not None and after.owner == user:
                    before = None  # a new account of the user's: judge its state alone
                else:
                    continue
            if after is None:
                continue  # closed: its lamports are judged by the balance rules
            if after.owner != user:
                findings.add("token_authority", f"token account {address} changes owner")
            if after.delegate is not None and (before is None or after.delegate != before.delegate):
                findings.add("token_authority", f"token account {address} gets a delegate")
            if after.close_authority is not None and (
                before is None or after.close_authority != before.close_authority
            ):
                findings.add("token_authority", f"token account {address} gets a close authority")

    @staticmethod
    def _balances(
        expectations: CheckExpectations,
        fee_lamports: int,
        tips: int,
        pre_by: Mapping[str, AccountState | None],
        post_by: Mapping[str, AccountState | None],
        findings: _Findings,
    ) -> None:
        user = expectations.user
        if post_by.get(user) is None or pre_by.get(user) is None:
            findings.add("simulation", "the user's wallet state before or after is unknown")
            return
        native_before = _native_value(user, pre_by)
        native_after = _native_value(user, post_by)
        native_spent = native_before - native_after
        allowed_native = fee_lamports + tips
        if expectations.input_mint == NATIVE_MINT:
            allowed_native += expectations.max_in_amount
        if expectations.output_mint == NATIVE_MINT:
            allowed_native -= expectations.min_out_amount
        if native_spent > allowed_native:
            if expectations.output_mint == NATIVE_MINT:
                findings.add(
                    "under_receive",
                    f"the user receives {-native_spent + fee_lamports + tips} lamports net of "
                    f"fees, less than the minimum {expectations.min_out_amount}",
                )
            else:
                findings.add(
                    "overspend",
                    f"the user's SOL falls by {native_spent} lamports, more than the allowed "
                    f"{allowed_native} (amount plus fees)",
                )
        deltas = _token_deltas(user, pre_by, post_by)
        for mint, delta in sorted(deltas.items()):
            if mint == NATIVE_MINT:
                continue  # counted in lamports above
            if mint == expectations.input_mint:
                if -delta > expectations.max_in_amount:
                    findings.add(
                        "overspend",
                        f"the user spends {-delta} of {mint}, more than the "
                        f"{expectations.max_in_amount} allowed",
                    )
            elif mint == expectations.output_mint:
                continue
            elif delta < 0:
                findings.add("unexpected_outflow", f"the user loses {-delta} of {mint}")
        if expectations.output_mint != NATIVE_MINT:
            received = deltas.get(expectations.output_mint, 0)
            if received < expectations.min_out_amount:
                findings.add(
                    "under_receive",
                    f"the user receives {received} of {expectations.output_mint}, less than the "
                    f"minimum {expectations.min_out_amount}",
                )


def _token(account: AccountState | None) -> TokenAccountState | None:
    return None if account is None else decode_token_account(account)


def _user_token_accounts(
    user: str,
    pre_by: Mapping[str, AccountState | None],
    post_by: Mapping[str, AccountState | None],
) -> frozenset[str]:
    owned: set[str] = set()
    for states in (pre_by, post_by):
        for address, account in states.items():
            token = _token(account)
            if token is not None and token.owner == user:
                owned.add(address)
    return frozenset(owned)


def _native_value(user: str, states: Mapping[str, AccountState | None]) -> int:
    """The user's lamports plus the lamports of the token accounts the user owns (rent and
    wrapped SOL stay the user's while the account is)."""
    total = 0
    for address, account in states.items():
        if account is None:
            continue
        if address == user:
            total += account.lamports
            continue
        token = decode_token_account(account)
        if token is not None and token.owner == user:
            total += account.lamports
    return total


def _token_deltas(
    user: str,
    pre_by: Mapping[str, AccountState | None],
    post_by: Mapping[str, AccountState | None],
) -> dict[str, int]:
    deltas: dict[str, int] = {}
    for states, sign in ((pre_by, -1), (post_by, 1)):
        for account in states.values():
            token = _token(account)
            if token is not None and token.owner == user:
                deltas[token.mint] = deltas.get(token.mint, 0) + sign * token.amount
    return deltas
