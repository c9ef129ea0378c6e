"""The typed views of the node's answers read what the wire carries (wire-formats §6)."""

from __future__ import annotations

import base64

from solbot.rpc import (
    AccountState,
    ConfirmedTransaction,
    SignatureStatus,
    Simulation,
    decode_token_account,
)
from tests.unit.execution.support import STRANGER, USDC, USER, token_account_bytes


def test_a_token_account_is_decoded_from_its_bytes() -> None:
    """Mint, owner, amount and delegate come out of the 165-byte SPL layout."""
    account = AccountState(
        2_039_280,
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        token_account_bytes(USDC, USER, 42, delegate=STRANGER),
    )
    token = decode_token_account(account)
    assert token is not None
    assert (token.mint, token.owner, token.amount) == (USDC, str(USER), 42)
    assert token.delegate == str(STRANGER) and token.close_authority is None


def test_non_token_accounts_decode_to_none() -> None:
    """A wallet, a short buffer or an uninitialized account is not a token account."""
    assert decode_token_account(AccountState(1, "11111111111111111111111111111111", b"")) is None
    uninitialized = AccountState(1, "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", bytes(165))
    assert decode_token_account(uninitialized) is None


def test_signature_statuses_parse_with_null_for_unknown() -> None:
    """An unknown signature is null; a known one carries slot, err and its level."""
    value = {
        "slot": 48,
        "confirmations": None,
        "err": None,
        "status": {"Ok": None},
        "confirmationStatus": "finalized",
    }
    status = SignatureStatus.parse(value)
    assert status is not None and status.is_confirmed and status.slot == 48
    assert SignatureStatus.parse(None) is None


def test_a_simulation_returns_account_states_in_request_order() -> None:
    """The `accounts` of simulateTransaction follow the requested addresses; null is absent."""
    data = base64.b64encode(b"\x01\x02").decode()
    result = {
        "context": {"slot": 218, "apiVersion": "2.2.16"},
        "value": {
            "err": None,
            "logs": ["Program 111 invoke [1]"],
            "unitsConsumed": 2366,
            "accounts": [
                None,
                {
                    "lamports": 5,
                    "owner": "11111111111111111111111111111111",
                    "data": [data, "base64"],
                    "executable": False,
                    "rentEpoch": 0,
                    "space": 2,
                },
            ],
            "returnData": None,
        },
    }
    simulation = Simulation.parse(result)
    assert simulation.units_consumed == 2366 and simulation.context_slot == 218
    assert simulation.accounts is not None
    assert simulation.accounts[0] is None
    assert simulation.accounts[1] == AccountState(
        5, "11111111111111111111111111111111", b"\x01\x02"
    )


def test_a_landed_transaction_lists_static_then_loaded_keys() -> None:
    """Balances are indexed by static keys, then lookup-loaded writable, then readonly."""
    result = {
        "slot": 9,
        "meta": {
            "err": None,
            "fee": 5000,
            "preBalances": [1, 2, 3, 4],
            "postBalances": [1, 2, 3, 4],
            "preTokenBalances": [],
            "postTokenBalances": [
                {
                    "accountIndex": 2,
                    "mint": USDC,
                    "owner": "o",
                    "uiTokenAmount": {"amount": "17", "decimals": 6},
                },
            ],
            "loadedAddresses": {"writable": ["w"], "readonly": ["r"]},
            "logMessages": [],
        },
        "transaction": {
            "message": {"accountKeys": ["a", "b"], "header": {"numRequiredSignatures": 1}},
            "signatures": ["s"],
        },
    }
    landed = ConfirmedTransaction.parse(result)
    assert landed is not None
    assert landed.account_keys == ("a", "b", "w", "r")
    assert landed.post_token_balances[0].amount == 17
    assert ConfirmedTransaction.parse(None) is None
