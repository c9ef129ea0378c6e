"""Wire encodings of the chain servers: base58, error texts, UI amounts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from solders.keypair import Keypair

from solbot.sim.chain._spl import ui_amount_string
from solbot.sim.rpc._encoding import b58decode, b58encode, transaction_error_message


@given(st.binary(max_size=200))
def test_base58_round_trips(data: bytes) -> None:
    """Any bytes, leading zeros included, survive base58."""
    assert b58decode(b58encode(data)) == data


def test_base58_matches_solders_pubkeys() -> None:
    """Our base58 writes a pubkey exactly as solders does."""
    pubkey = Keypair().pubkey()
    assert b58encode(bytes(pubkey)) == str(pubkey)


def test_error_texts_follow_agave() -> None:
    """Transaction errors render as Agave's Display text."""
    assert transaction_error_message("BlockhashNotFound") == "Blockhash not found"
    assert transaction_error_message({"InstructionError": [3, {"Custom": 6001}]}) == (
        "Error processing Instruction 3: custom program error: 0x1771"
    )
    assert transaction_error_message({"InsufficientFundsForRent": {"account_index": 1}}) == (
        "Transaction results in an account (1) with insufficient funds for rent"
    )
    assert transaction_error_message({"Unknown": 1}) is None


def test_ui_amount_strings() -> None:
    """UI amounts trim trailing zeros and keep integers whole."""
    assert ui_amount_string(1_500_000, 6) == "1.5"
    assert ui_amount_string(1, 9) == "0.000000001"
    assert ui_amount_string(2_000_000, 6) == "2"
    assert ui_amount_string(7, 0) == "7"
