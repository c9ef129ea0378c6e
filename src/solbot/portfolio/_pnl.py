"""Profit and loss by weighted average cost, from the ledger's actual fills (a pure core).

Every trade is a swap: it disposes of one token and acquires another. Both legs are valued at
the trade's market value when it filled (`value_usd`, `value_sol`), so

- the token given up realizes `value - average cost x quantity` on the part whose basis is known;
- the token received gets `value + fee` added to its basis (the network fee is a cost of buying);
- the SOL paid as fee is itself disposed of at its market value (fees are real SOL leaving).

USD and SOL are kept as two separate books, because a fill's value may be known in one and not
in the other (a SOL -> BONK swap is worth a known amount of SOL; its USD worth needs SOL's USD
price at that moment, which the ledger may not have). A fill whose value is unknown in a
currency gives the bought units no basis in that currency (they count as unknown basis, like a
transfer in) and books no realized P&L in it for the units sold (counted as `unvalued_sold`).
In the SOL book, SOL itself is the unit: its basis is its quantity, it never realizes anything.

Quantities are integers in base units; money is Decimal. Tokens the chain shows beyond what the
fills explain arrived by transfer: their basis is unknown, so their share of any later sale is
reported as unknown, never invented. The window (24h, 7d, 30d, all) selects which disposals count
as realized; unrealized P&L is the known-basis holding at today's price against its basis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = ["Fill", "PnlReport", "TokenPnl", "compute_pnl"]

SOL_MINT = "So11111111111111111111111111111111111111112"
ZERO = Decimal(0)
_LAMPORTS_PER_SOL = Decimal(10**9)


@dataclass(frozen=True, slots=True)
class Fill:
    """One confirmed trade, as the chain recorded it (actual amounts, not quoted ones).

    A value (or the SOL price) that could not be known at fill time is None, never a guess.
    """

    at: datetime
    sold_mint: str
    sold_amount: int
    bought_mint: str
    bought_amount: int
    value_usd: Decimal | None  # market value of what changed hands, at fill time
    value_sol: Decimal | None
    fee_lamports: int  # base + priority
    sol_usd_at_fill: Decimal | None  # to value the fee in USD


@dataclass(slots=True)
class _Book:
    """One token's cost basis in one currency."""

    quantity: int = 0  # units with a known basis in this currency
    cost: Decimal = ZERO
    realized: Decimal = ZERO
    unknown_sold: int = 0  # sold units whose basis was unknown (arrived by transfer)
    unvalued_sold: int = 0  # sold units whose proceeds were unknown: nothing realized for them

    def acquire(self, quantity: int, cost: Decimal | None) -> None:
        if cost is None:
            return  # no basis in this currency: these units read as unknown basis
        self.quantity += quantity
        self.cost += cost

    def dispose(self, quantity: int, proceeds: Decimal | None, *, counts: bool) -> None:
        """Remove `quantity`; realize against average cost on the known part."""
        if quantity <= 0:
            return
        known = min(quantity, self.quantity)
        unknown = quantity - known
        if known:
            basis = self.cost * Decimal(known) / Decimal(self.quantity)
            self.quantity -= known
            self.cost -= basis
            if counts:
                if proceeds is None:
                    self.unvalued_sold += known
                else:
                    self.realized += proceeds * Decimal(known) / Decimal(quantity) - basis
        if counts:
            self.unknown_sold += unknown


@dataclass(slots=True)
class _Position:
    usd: _Book = field(default_factory=_Book)
    sol: _Book = field(default_factory=_Book)
    fees_usd: Decimal = ZERO
    fees_lamports: int = 0

    def acquire(self, quantity: int, cost_usd: Decimal | None, cost_sol: Decimal | None) -> None:
        self.usd.acquire(quantity, cost_usd)
        self.sol.acquire(quantity, cost_sol)

    def dispose(
        self,
        quantity: int,
        proceeds_usd: Decimal | None,
        proceeds_sol: Decimal | None,
        *,
        counts: bool,
    ) -> None:
        self.usd.dispose(quantity, proceeds_usd, counts=counts)
        self.sol.dispose(quantity, proceeds_sol, counts=counts)


@dataclass(frozen=True, slots=True)
class TokenPnl:
    mint: str
    quantity: int  # what the chain holds now
    known_basis_quantity: int  # (USD book)
    unknown_basis_quantity: int  # arrived by transfer (or before the ledger): basis unknown
    price_usd: Decimal | None  # None when no price source knows the token
    value_usd: Decimal | None
    cost_basis_usd: Decimal
    cost_basis_sol: Decimal
    average_cost_usd: Decimal | None  # per whole token, when there is a known-basis holding
    realized_usd: Decimal
    realized_sol: Decimal
    unrealized_usd: Decimal | None  # None when the price is missing
    unrealized_sol: Decimal | None
    unknown_basis_sold: int  # sold within the window from unknown-basis units
    fees_usd: Decimal
    # Added with the two books; defaults keep older constructions valid.
    known_basis_quantity_sol: int = 0
    unknown_basis_quantity_sol: int = 0
    unknown_basis_sold_sol: int = 0
    unvalued_sold_usd: int = 0  # sold in the window at a USD value nobody recorded
    unvalued_sold_sol: int = 0
    price_sol: Decimal | None = None
    value_sol: Decimal | None = None
    fees_lamports: int = 0


@dataclass(frozen=True, slots=True)
class PnlReport:
    tokens: tuple[TokenPnl, ...]
    realized_usd: Decimal
    realized_sol: Decimal
    unrealized_usd: Decimal
    unrealized_sol: Decimal
    fees_usd: Decimal
    fees_lamports: int
    incomplete: bool  # some price or basis is unknown: totals cover only what is known
    notes: tuple[str, ...] = field(default=())
    #: fees whose USD value is unknown (no SOL price at their fill) are not in `fees_usd`
    fees_usd_complete: bool = True


def _unrealized(known: int, scale: Decimal, price: Decimal | None, cost: Decimal) -> Decimal | None:
    if price is None:
        return None
    return Decimal(known) / scale * price - cost


def compute_pnl(
    fills: Iterable[Fill],
    *,
    holdings: Mapping[str, int],
    decimals: Mapping[str, int],
    prices_usd: Mapping[str, Decimal | None],
    sol_usd: Decimal | None,
    since: datetime | None,
) -> PnlReport:
    """P&L of a wallet: `fills` oldest first, `holdings` from the chain now, prices now."""
    positions: dict[str, _Position] = {}
    fees_usd = ZERO
    fees_lamports = 0
    fees_usd_complete = True
    for fill in sorted(fills, key=lambda f: f.at):
        counts = since is None or fill.at >= since
        fee_sol = Decimal(fill.fee_lamports) / _LAMPORTS_PER_SOL
        fee_usd = None if fill.sol_usd_at_fill is None else fee_sol * fill.sol_usd_at_fill
        sold = positions.setdefault(fill.sold_mint, _Position())
        sold.dispose(fill.sold_amount, fill.value_usd, fill.value_sol, counts=counts)
        sol = positions.setdefault(SOL_MINT, _Position())
        sol.dispose(fill.fee_lamports, fee_usd, fee_sol, counts=counts)
        bought = positions.setdefault(fill.bought_mint, _Position())
        # A fee without a USD value (no SOL price at the fill) stays out of the USD basis, and
        # `fees_usd_complete` says so: a known trade value is worth more than a lost basis.
        bought.acquire(
            fill.bought_amount,
            None if fill.value_usd is None else fill.value_usd + (fee_usd or ZERO),
            None if fill.value_sol is None else fill.value_sol + fee_sol,
        )
        if counts:
            bought.fees_lamports += fill.fee_lamports
            fees_lamports += fill.fee_lamports
            if fee_usd is None:
                fees_usd_complete = fees_usd_complete and fill.fee_lamports == 0
            else:
                bought.fees_usd += fee_usd
                fees_usd += fee_usd

    tokens: list[TokenPnl] = []
    incomplete = not fees_usd_complete
    notes: list[str] = []
    if not fees_usd_complete:
        notes.append("some fees have no USD value (no SOL price at their fill)")
    for mint in sorted(set(positions) | set(holdings)):
        position = positions.get(mint, _Position())
        usd, sol_book = position.usd, position.sol
        held = holdings.get(mint, 0)
        # The chain is the truth: more than the fills explain arrived by transfer; less means
        # units left by transfer, which take their share of basis with them.
        for book in (usd, sol_book):
            if held < book.quantity:
                book.dispose(book.quantity - held, ZERO, counts=False)
        if mint == SOL_MINT:
            # SOL is the SOL book's unit: every lamport's basis is itself.
            sol_book.quantity, sol_book.cost = held, Decimal(held) / _LAMPORTS_PER_SOL
            sol_book.realized, sol_book.unknown_sold, sol_book.unvalued_sold = ZERO, 0, 0
        known = min(held, usd.quantity)
        known_sol = min(held, sol_book.quantity)
        price = prices_usd.get(mint)
        scale = Decimal(10) ** decimals.get(mint, 0)
        value = None if price is None else Decimal(held) / scale * price
        price_sol: Decimal | None = None
        if mint == SOL_MINT:
            price_sol = Decimal(1)
        elif price is not None and sol_usd:
            price_sol = price / sol_usd
        value_sol = None if price_sol is None else Decimal(held) / scale * price_sol
        if price is None and held:
            incomplete = True
            notes.append(f"{mint}: no price, value and unrealized P&L unknown")
        if held - known or usd.unknown_sold or held - known_sol or sol_book.unknown_sold:
            incomplete = True
            notes.append(f"{mint}: some units arrived by transfer; their cost basis is unknown")
        if usd.unvalued_sold or sol_book.unvalued_sold:
            incomplete = True
            notes.append(f"{mint}: some sales have no recorded value at fill; not realized")
        tokens.append(
            TokenPnl(
                mint=mint,
                quantity=held,
                known_basis_quantity=known,
                unknown_basis_quantity=held - known,
                price_usd=price,
                value_usd=value,
                cost_basis_usd=usd.cost,
                cost_basis_sol=sol_book.cost,
                average_cost_usd=usd.cost / (Decimal(known) / scale) if known else None,
                realized_usd=usd.realized,
                realized_sol=sol_book.realized,
                unrealized_usd=_unrealized(known, scale, price, usd.cost),
                unrealized_sol=_unrealized(known_sol, scale, price_sol, sol_book.cost),
                unknown_basis_sold=usd.unknown_sold,
                fees_usd=position.fees_usd,
                known_basis_quantity_sol=known_sol,
                unknown_basis_quantity_sol=held - known_sol,
                unknown_basis_sold_sol=sol_book.unknown_sold,
                unvalued_sold_usd=usd.unvalued_sold,
                unvalued_sold_sol=sol_book.unvalued_sold,
                price_sol=price_sol,
                value_sol=value_sol,
                fees_lamports=position.fees_lamports,
            )
        )
    return PnlReport(
        tokens=tuple(tokens),
        realized_usd=sum((t.realized_usd for t in tokens), ZERO),
        realized_sol=sum((t.realized_sol for t in tokens), ZERO),
        unrealized_usd=sum((t.unrealized_usd or ZERO for t in tokens), ZERO),
        unrealized_sol=sum((t.unrealized_sol or ZERO for t in tokens), ZERO),
        fees_usd=fees_usd,
        fees_lamports=fees_lamports,
        incomplete=incomplete,
        notes=tuple(notes),
        fees_usd_complete=fees_usd_complete,
    )
