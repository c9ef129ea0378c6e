"""The simnet market on a real SimChain: setup, routing, swaps that execute, the moving market."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction

from solbot.domain import KNOWN_TOKENS
from solbot.sim.chain import SimChain
from solbot.sim.chain._spl import associated_token_address, decode_token_account
from solbot.sim.faults import FaultBook
from solbot.sim.market import (
    DemoWallet,
    Market,
    Route,
    SlippageExceeded,
    UnknownToken,
    amount_out,
    user_signed,
)

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


@pytest.fixture
def chain() -> SimChain:
    return SimChain()


@pytest.fixture
def market(chain: SimChain, tmp_path: Path) -> Market:
    market = Market(chain, FaultBook(rng=random.Random(1)), seed=42, data_dir=tmp_path)
    market.setup()
    return market


def _token_balance(chain: SimChain, owner: Pubkey, mint: str) -> int:
    decoded = decode_token_account(
        chain.get_account(associated_token_address(owner, Pubkey.from_string(mint)))
    )
    return 0 if decoded is None else decoded.amount


def _vault_balance(chain: SimChain, vault: Pubkey) -> int:
    decoded = decode_token_account(chain.get_account(vault))
    assert decoded is not None
    return decoded.amount


def _swap_tx(market: Market, wallet: DemoWallet, route: Route, **kw: bool) -> VersionedTransaction:
    built = market.build_swap(
        user=wallet.pubkey,
        input_mint=route.input_mint,
        output_mint=route.output_mint,
        in_amount=route.in_amount,
        out_amount=route.out_amount,
        legs=market.route_legs(route),
        compute_unit_price_micro_lamports=1_000,
        **kw,
    )
    return built.transaction


def test_setup_puts_known_mints_at_their_mainnet_addresses(chain: SimChain, market: Market) -> None:
    """USDC, USDT, BONK, JUP, WIF exist at their real mints with their real decimals."""
    for token in KNOWN_TOKENS:
        assert chain.mint_decimals(Pubkey.from_string(token.mint)) == token.decimals
    newt = market.token(market.newt_mint)
    assert newt.symbol == "NEWT" and newt.pyth_feed_id is None
    assert chain.mint_decimals(Pubkey.from_string(market.newt_mint)) == 6


def test_newt_mint_is_deterministic_from_the_seed(chain: SimChain) -> None:
    """The same seed gives the same fresh token; another seed another one."""
    faults = FaultBook()
    assert Market(chain, faults, seed=5).newt_mint == Market(SimChain(), faults, seed=5).newt_mint
    assert Market(chain, faults, seed=5).newt_mint != Market(chain, faults, seed=6).newt_mint


def test_pool_reserves_are_maker_owned_token_accounts(chain: SimChain, market: Market) -> None:
    """Each pool's two vaults are SPL token accounts of the pool's mints owned by the maker."""
    sol_usdc = next(
        p for p in market.pools.values() if {str(p.mint_a), str(p.mint_b)} == {SOL, USDC}
    )
    for vault, mint in ((sol_usdc.vault_a, sol_usdc.mint_a), (sol_usdc.vault_b, sol_usdc.mint_b)):
        decoded = decode_token_account(chain.get_account(vault))
        assert decoded is not None
        assert decoded.owner == market.maker.pubkey() and decoded.mint == mint
    usdc_side = _vault_balance(
        chain, sol_usdc.vault_b if sol_usdc.mint_b == Pubkey.from_string(USDC) else sol_usdc.vault_a
    )
    assert usdc_side >= 1_000_000 * 10**6  # millions of USD deep


def test_demo_wallets_are_funded_and_written_to_the_keys_file(
    chain: SimChain, market: Market
) -> None:
    """Each demo wallet holds SOL and tokens; the keys file holds their secret keys."""
    assert market.keys_file is not None and market.keys_file.exists()
    assert market.keys_file.stat().st_mode & 0o077 == 0
    document = json.loads(market.keys_file.read_text())
    assert len(document["wallets"]) == len(market.demo_wallets) >= 2
    for entry, wallet in zip(document["wallets"], market.demo_wallets, strict=True):
        keypair = Keypair.from_bytes(bytes(entry["keypair"]))
        assert keypair.pubkey() == wallet.pubkey == Pubkey.from_string(entry["publicKey"])
        assert chain.get_balance(wallet.pubkey) >= 10 * 10**9
        assert _token_balance(chain, wallet.pubkey, USDC) > 0


def test_quote_is_the_integer_formula_on_the_on_chain_reserves(
    chain: SimChain, market: Market
) -> None:
    """A direct quote's output equals amount_out over the vault balances read from the chain."""
    route = market.quote(SOL, USDC, 2 * 10**9, "ExactIn", max_hops=1)
    pool = market.pools[route.hops[0].pool.key]
    vault_in, vault_out = pool.vaults(Pubkey.from_string(SOL))
    expected = amount_out(
        2 * 10**9, _vault_balance(chain, vault_in), _vault_balance(chain, vault_out), pool.fee_bps
    )
    assert route.out_amount == expected
    assert route.hops[0].fee_amount == 2 * 10**9 * pool.fee_bps // 10_000


def test_unknown_mint_is_not_tradable(market: Market) -> None:
    """A mint the market does not list raises UnknownToken."""
    with pytest.raises(UnknownToken):
        market.quote(str(Keypair().pubkey()), USDC, 10**6)


def test_swap_moves_exactly_the_quoted_amounts(chain: SimChain, market: Market) -> None:
    """SOL -> USDC: the user pays in_amount lamports (plus fees) and gets exactly out_amount."""
    wallet = market.demo_wallets[0]
    route = market.quote(SOL, USDC, 3 * 10**9)
    pool = market.pools[route.hops[0].pool.key]
    vault_in, vault_out = pool.vaults(Pubkey.from_string(SOL))
    before = (
        chain.get_balance(wallet.pubkey),
        _token_balance(chain, wallet.pubkey, USDC),
        _vault_balance(chain, vault_in),
        _vault_balance(chain, vault_out),
    )
    signature = chain.send(user_signed(_swap_tx(market, wallet, route), wallet.keypair))
    record = chain.transaction(signature)
    assert record is not None and record.err is None
    assert _token_balance(chain, wallet.pubkey, USDC) - before[1] == route.out_amount
    assert before[0] - chain.get_balance(wallet.pubkey) == route.in_amount + record.fee
    assert _vault_balance(chain, vault_in) - before[2] == route.in_amount
    assert before[3] - _vault_balance(chain, vault_out) == route.out_amount
    # the wSOL account used to wrap was closed again
    assert (
        chain.get_account(associated_token_address(wallet.pubkey, Pubkey.from_string(SOL))) is None
    )


def test_multi_hop_swap_to_sol_unwraps_and_moves_exact_amounts(
    chain: SimChain, market: Market
) -> None:
    """BONK -> USDC -> ... -> SOL: tokens leave exactly, lamports arrive exactly (unwrapped)."""
    wallet = market.demo_wallets[1]
    amount = _token_balance(chain, wallet.pubkey, BONK) // 2
    route = market.quote(BONK, market.newt_mint, amount)
    assert len(route.hops) >= 2
    before_bonk = _token_balance(chain, wallet.pubkey, BONK)
    signature = chain.send(user_signed(_swap_tx(market, wallet, route), wallet.keypair))
    assert chain.transaction(signature) is not None
    assert before_bonk - _token_balance(chain, wallet.pubkey, BONK) == route.in_amount
    assert _token_balance(chain, wallet.pubkey, market.newt_mint) == route.out_amount

    back = market.quote(market.newt_mint, SOL, route.out_amount)
    lamports = chain.get_balance(wallet.pubkey)
    signature = chain.send(user_signed(_swap_tx(market, wallet, back), wallet.keypair))
    record = chain.transaction(signature)
    assert record is not None
    # the new wSOL account's rent is paid and refunded within the same transaction
    assert chain.get_balance(wallet.pubkey) - lamports == back.out_amount - record.fee


def test_exact_out_swap_delivers_the_exact_output(chain: SimChain, market: Market) -> None:
    """ExactOut USDC -> SOL: exactly the asked lamports arrive for the quoted input."""
    wallet = market.demo_wallets[0]
    route = market.quote(USDC, SOL, 10**9, "ExactOut")
    assert route.out_amount == 10**9
    usdc_before = _token_balance(chain, wallet.pubkey, USDC)
    lamports = chain.get_balance(wallet.pubkey)
    signature = chain.send(user_signed(_swap_tx(market, wallet, route), wallet.keypair))
    record = chain.transaction(signature)
    assert record is not None
    assert usdc_before - _token_balance(chain, wallet.pubkey, USDC) == route.in_amount
    assert chain.get_balance(wallet.pubkey) - lamports == 10**9 - record.fee


def test_swap_is_partially_signed_by_the_maker_only(market: Market) -> None:
    """The user is the fee payer with an empty signature slot; the maker's slot is signed."""
    wallet = market.demo_wallets[0]
    tx = _swap_tx(market, wallet, market.quote(SOL, USDC, 10**8))
    keys = list(tx.message.account_keys)
    assert keys[0] == wallet.pubkey
    signers = keys[: tx.message.header.num_required_signatures]
    assert signers == [wallet.pubkey, market.maker.pubkey()]
    assert tx.signatures[0] == type(tx.signatures[0]).default()
    assert tx.signatures[1] != type(tx.signatures[1]).default()


def test_malicious_swap_adds_a_transfer_to_a_stranger(market: Market) -> None:
    """Under malicious_tx the transaction also pays lamports from the user to a stranger."""
    wallet = market.demo_wallets[0]
    route = market.quote(SOL, USDC, 10**9)
    tx = _swap_tx(market, wallet, route, malicious=True)
    keys = list(tx.message.account_keys)
    system_transfers = [
        ix
        for ix in tx.message.instructions
        if keys[ix.program_id_index] == SYSTEM_PROGRAM_ID and bytes(ix.data)[:4] == b"\x02\0\0\0"
    ]
    destinations = {keys[ix.accounts[1]] for ix in system_transfers}
    assert market.stranger in destinations
    honest = _swap_tx(market, wallet, route)
    assert market.stranger not in list(honest.message.account_keys)


def test_slippage_check_refuses_a_quote_the_market_moved_past(
    chain: SimChain, market: Market
) -> None:
    """After a large trade in the same pool, the old quote's threshold is no longer met."""
    wallet, whale = market.demo_wallets[0], market.traders[0]
    route = market.quote(SOL, USDC, 10**9, max_hops=1)
    threshold = route.out_amount * 9_950 // 10_000
    market.check_slippage(
        route.pool_keys, SOL, route.in_amount, route.out_amount, "ExactIn", threshold
    )
    dump = market.quote(SOL, USDC, 2_000 * 10**9, max_hops=1)
    assert dump.pool_keys == route.pool_keys
    chain.send(user_signed(_swap_tx(market, whale, dump), whale.keypair))
    with pytest.raises(SlippageExceeded, match="Slippage"):
        market.check_slippage(
            route.pool_keys, SOL, route.in_amount, route.out_amount, "ExactIn", threshold
        )
    assert wallet.pubkey != whale.pubkey


def test_illiquid_route_has_more_than_four_hops_and_poor_output(market: Market) -> None:
    """With illiquid=True the route goes through thin pools and gives markedly less."""
    good = market.quote(SOL, USDC, 10**9)
    bad = market.quote(SOL, USDC, 10**9, illiquid=True)
    assert len(bad.hops) > 4
    assert bad.out_amount < good.out_amount * 0.97
    assert all(market.pools[h.pool.key].thin for h in bad.hops)


def test_background_trades_land_on_chain_and_move_reserves(chain: SimChain, market: Market) -> None:
    """step() with trades sends real transactions that change pool reserves."""
    before = {k: (s.reserve_a, s.reserve_b) for k, s in market._pool_states().items()}
    executed = chain.transactions_executed
    signatures = market.step(1.0, trades=10)
    assert len(signatures) == 10
    assert chain.transactions_executed == executed + 10
    for signature in signatures:
        record = chain.transaction(signature)
        assert record is not None and record.err is None
    after = {k: (s.reserve_a, s.reserve_b) for k, s in market._pool_states().items()}
    assert after != before


def _deviation_bps(market: Market, key: str) -> float:
    """How far a pool's mid price is from the fair prices' ratio, in bps."""
    state = market._pool_states()[key]
    fair_a, fair_b = market.fair_price(state.mint_a), market.fair_price(state.mint_b)
    assert fair_a is not None and fair_b is not None
    decimals_a = market.tokens[state.mint_a].decimals
    decimals_b = market.tokens[state.mint_b].decimals
    target = fair_a / fair_b * 10**decimals_b / 10**decimals_a
    return float(abs(state.reserve_b / state.reserve_a / target - 1.0) * 10_000)


def test_arbitrage_pulls_every_liquid_pool_back_toward_the_fair_price(
    chain: SimChain, market: Market
) -> None:
    """After the walk moves prices, one arbitrage pass trades each liquid pool that is off by
    more than fee and edge most of the way back, in real transactions, and leaves thin pools."""
    assert market.arbitrage() == []  # a fresh market sits at fair prices
    market.step(3600.0)  # two and a half simulated days: every walked token moves
    liquid = [key for key, pool in market.pools.items() if not pool.thin]
    before = {key: _deviation_bps(market, key) for key in liquid}
    off = {key for key in liquid if before[key] > market.pools[key].fee_bps + 2.0}
    assert len(off) >= 3
    thin_before = {k: market._pool_states()[k] for k, p in market.pools.items() if p.thin}

    signatures = market.arbitrage()

    assert len(signatures) == len(off)
    for signature in signatures:
        record = chain.transaction(signature)
        assert record is not None and record.err is None
    for key in off:
        assert _deviation_bps(market, key) < 0.35 * before[key], market.pools[key].label
    assert {k: market._pool_states()[k] for k in thin_before} == thin_before


def test_random_walk_is_deterministic_under_a_seed() -> None:
    """Two markets with the same seed walk the same prices and trade the same amounts."""

    def run(seed: int) -> tuple[dict[str, float], list[tuple[int, int]]]:
        market = Market(SimChain(), FaultBook(rng=random.Random(0)), seed=seed)
        market.setup()
        for _ in range(20):
            market.step(2.0, trades=2)
        states = market._pool_states()
        return dict(market.walk.prices), [(s.reserve_a, s.reserve_b) for s in states.values()]

    first, second, other = run(9), run(9), run(10)
    assert first == second
    assert first[0] != other[0]


def test_volatility_fault_widens_the_walk() -> None:
    """The market target's volatility multiplier makes prices move further."""

    def spread(volatility: float) -> float:
        faults = FaultBook(rng=random.Random(0))
        faults.update({"market": {"volatility": volatility}})
        market = Market(SimChain(), faults, seed=3)
        moves = []
        for _ in range(200):
            before = market.walk.prices[SOL]
            market.step(1.0)
            moves.append(abs(market.walk.prices[SOL] / before - 1))
        return sum(moves)

    assert spread(8.0) > 4 * spread(1.0)


def test_oracle_price_tracks_the_fair_price(market: Market) -> None:
    """Pyth's price is the fair price scaled by 1e8 with a confidence band; NEWT has none."""
    market.step(1.0)
    oracle = market.oracle_price(SOL)
    assert oracle is not None and oracle.expo == -8
    assert oracle.price == round(market.walk.prices[SOL] * 10**8)
    assert 0 < oracle.conf < oracle.price // 100
    assert market.oracle_price(market.newt_mint) is None
    newt_price = market.pool_price(market.newt_mint)
    assert newt_price is not None and newt_price > 0


def test_maker_quote_spreads_around_the_fair_price(market: Market) -> None:
    """The RFQ maker pays less than fair value, by its spread; NEWT is not quoted."""
    quote = market.maker_quote(SOL, USDC, base_amount=10**9)
    fair = market.walk.prices[SOL] / market.walk.prices[USDC] * 10**6
    assert fair * 0.995 < quote.quote_amount < fair
    with pytest.raises(UnknownToken):
        market.maker_quote(market.newt_mint, USDC, base_amount=10**6)
