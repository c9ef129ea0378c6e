"""SimChain: mainnet's blockhash window, fees, token balances, duplicates, statuses."""

from __future__ import annotations

import pytest
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorFieldless

from solbot.sim.chain import PreflightFailure, SimChain
from solbot.sim.chain._spl import (
    associated_token_address,
    set_compute_unit_limit,
    set_compute_unit_price,
    transfer_checked,
)

USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")


@pytest.fixture
def chain() -> SimChain:
    return SimChain(wall_clock=lambda: 1_800_000_000.0)


def _payer(chain: SimChain) -> Keypair:
    keypair = Keypair()
    chain.airdrop(keypair.pubkey(), 10 * 10**9)
    return keypair


def _transfer(
    chain: SimChain, payer: Keypair, lamports: int = 10**9, extra: tuple[Instruction, ...] = ()
) -> VersionedTransaction:
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=lamports)
    )
    message = Message.new_with_blockhash([*extra, ix], payer.pubkey(), chain.latest_blockhash()[0])
    return VersionedTransaction(message, [payer])


def test_blockhash_is_valid_for_150_blocks(chain: SimChain) -> None:
    """A blockhash is accepted until block height passes lastValidBlockHeight (= height + 150)."""
    blockhash, last_valid = chain.latest_blockhash()
    assert last_valid == chain.block_height + 150
    while chain.block_height < last_valid:
        chain.tick()
        assert chain.blockhash_valid(blockhash)
    chain.tick()
    assert not chain.blockhash_valid(blockhash)


def test_expired_blockhash_is_refused_without_charging(chain: SimChain) -> None:
    """A transaction with an expired blockhash fails preflight with BlockhashNotFound, no fee."""
    payer = _payer(chain)
    tx = _transfer(chain, payer)
    for _ in range(151):
        chain.tick()
    with pytest.raises(PreflightFailure) as failure:
        chain.send(tx)
    assert failure.value.simulation.err == TransactionErrorFieldless.BlockhashNotFound
    assert chain.get_balance(payer.pubkey()) == 10 * 10**9


def test_fee_is_base_plus_priority(chain: SimChain) -> None:
    """5000 lamports per signature plus ceil(CU price x CU limit / 1e6)."""
    payer = _payer(chain)
    tx = _transfer(
        chain, payer, extra=(set_compute_unit_limit(30_000), set_compute_unit_price(10_001))
    )
    signature = chain.send(tx)
    record = chain.transaction(signature)
    assert record is not None
    assert record.fee == 5000 + 301  # ceil(10_001 * 30_000 / 1e6)
    assert record.unit_price_micro_lamports == 10_001
    fees = dict(chain.recent_prioritization_fees([payer.pubkey()]))
    assert fees[chain.slot] == 10_001


def test_token_balances_before_and_after(chain: SimChain) -> None:
    """A token transfer is recorded with pre/post token balances of both accounts."""
    chain.create_mint(USDC, 6, None)
    owner = _payer(chain)
    source = associated_token_address(owner.pubkey(), USDC)
    chain.credit_tokens(source, USDC, owner.pubkey(), 1_000_000)
    recipient = Keypair().pubkey()
    destination = associated_token_address(recipient, USDC)
    chain.credit_tokens(destination, USDC, recipient, 0)
    ix = transfer_checked(source, USDC, destination, owner.pubkey(), 300_000, 6)
    message = Message.new_with_blockhash([ix], owner.pubkey(), chain.latest_blockhash()[0])
    record = chain.transaction(chain.send(VersionedTransaction(message, [owner])))
    assert record is not None and record.err is None
    pre = {str(b.owner): b.amount for b in record.pre_token_balances}
    post = {str(b.owner): b.amount for b in record.post_token_balances}
    assert pre == {str(owner.pubkey()): 1_000_000, str(recipient): 0}
    assert post == {str(owner.pubkey()): 700_000, str(recipient): 300_000}
    assert record.post_token_balances[0].to_json()["uiTokenAmount"]["decimals"] == 6


def test_duplicate_is_refused_or_ignored(chain: SimChain) -> None:
    """Resending a landed transaction: preflight says AlreadyProcessed; skip_preflight returns
    its signature without executing it again."""
    payer = _payer(chain)
    tx = _transfer(chain, payer)
    signature = chain.send(tx)
    balance = chain.get_balance(payer.pubkey())
    with pytest.raises(PreflightFailure) as failure:
        chain.send(tx)
    assert failure.value.simulation.err == TransactionErrorFieldless.AlreadyProcessed
    assert chain.send(tx, skip_preflight=True) == signature
    assert chain.get_balance(payer.pubkey()) == balance
    assert chain.transactions_executed == 1


def test_confirmation_status_deepens_with_slots(chain: SimChain) -> None:
    """processed in its slot, confirmed from the next, finalized 32 slots later."""
    record = chain.transaction(chain.send(_transfer(chain, _payer(chain))))
    assert record is not None
    assert chain.confirmation_status(record) == ("processed", 0)
    chain.tick()
    assert chain.confirmation_status(record) == ("confirmed", 1)
    for _ in range(31):
        chain.tick()
    assert chain.confirmation_status(record) == ("finalized", None)


def test_simulation_without_sig_verify_runs_unsigned_transactions(chain: SimChain) -> None:
    """sig_verify=False simulates a transaction carrying placeholder signatures."""
    payer = _payer(chain)
    tx = _transfer(chain, payer)
    unsigned = VersionedTransaction.populate(tx.message, [Signature.default()])
    assert chain.simulate(unsigned).err == TransactionErrorFieldless.SignatureFailure
    result = chain.simulate(unsigned, sig_verify=False)
    assert result.err is None and result.units_consumed > 0
    assert chain.simulate(tx).err is None  # signature checks are back on
