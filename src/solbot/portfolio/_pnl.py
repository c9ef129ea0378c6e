"""Profit and loss by weighted average cost, from the ledger's actual fills (a pure core).

Every trade is a swap: it disposes of one token and acquires another. Both legs are valued at
the trade's market value when it filled (`value_usd`, `value_sol`), so

- the token given up realizes `value - average cost x quantity` on the part whose basis is known;
- the token received gets `value + fee` added to its basis (the network fee is a cost of buying);
- the SOL paid as fee is itself disposed of at its market value (fees are real SOL leaving).

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


@dataclass(frozen=True, slots=True)
class Fill:
    """One confirmed trade, as the chain recorded it (actual amounts, not quoted ones)."""

    at: datetime
    sold_mint: str
    sold_amount: int
    bought_mint: str
    bought_amount: int
    value_usd: Decimal  # market value of what changed hands, at fill time
    value_sol: Decimal
    fee_lamports: int  # base + priority
    sol_usd_at_fill: Decimal  # to value the fee


@dataclass(slots=True)
class _Position:
    quantity: int = 0  # with known basis
    cost_usd: Decimal = ZERO
    cost_sol: Decimal = ZERO
    realized_usd: Decimal = ZERO
    realized_sol: Decimal = ZERO
    unknown_sold: int = 0  # sold units whose basis was unknown (arrived by transfer)
    fees_usd: Decimal = ZERO

    def acquire(self, quantity: int, cost_usd: Decimal, cost_sol: Decimal) -> None:
        self.quantity += quantity
        self.cost_usd += cost_usd
        self.cost_sol += cost_sol

    def dispose(
        self, quantity: int, proceeds_usd: Decimal, proceeds_sol: Decimal, *, counts: bool
    ) -> None:
        """Remove `quantity`; realize against average cost on the known part."""
        if quantity <= 0:
            return
        known = min(quantity, self.quantity)
        unknown = quantity - known
        share = Decimal(known) / Decimal(quantity)
        if known:
            fraction = Decimal(known) / Decimal(self.quantity)
            basis_usd = self.cost_usd * fraction
            basis_sol = self.cost_sol * fraction
            self.quantity -= known
            self.cost_usd -= basis_usd
            self.cost_sol -= basis_sol
            if counts:
                self.realized_usd += proceeds_usd * share - basis_usd
                self.realized_sol += proceeds_sol * share - basis_sol
        if counts:
            self.unknown_sold += unknown


@dataclass(frozen=True, slots=True)
class TokenPnl:
    mint: str
    quantity: int  # what the chain holds now
    known_basis_quantity: int
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
    for fill in sorted(fills, key=lambda f: f.at):
        counts = since is None or fill.at >= since
        fee_usd = Decimal(fill.fee_lamports) / Decimal(10**9) * fill.sol_usd_at_fill
        fee_sol = Decimal(fill.fee_lamports) / Decimal(10**9)
        sold = positions.setdefault(fill.sold_mint, _Position())
        sold.dispose(fill.sold_amount, fill.value_usd, fill.value_sol, counts=counts)
        sol = positions.setdefault(SOL_MINT, _Position())
        sol.dispose(fill.fee_lamports, fee_usd, fee_sol, counts=counts)
        bought = positions.setdefault(fill.bought_mint, _Position())
        bought.acquire(fill.bought_amount, fill.value_usd + fee_usd, fill.value_sol + fee_sol)
        if counts:
            bought.fees_usd += fee_usd
            fees_usd += fee_usd
            fees_lamports += fill.fee_lamports

    tokens: list[TokenPnl] = []
    incomplete = False
    notes: list[str] = []
    for mint in sorted(set(positions) | set(holdings)):
        position = positions.get(mint, _Position())
        held = holdings.get(mint, 0)
        # The chain is the truth: more than the fills explain arrived by transfer; less means
        # units left by transfer, which take their share of basis with them.
        if held < position.quantity:
            position.dispose(position.quantity - held, ZERO, ZERO, counts=False)
        known = min(held, position.quantity)
        unknown = held - known
        price = prices_usd.get(mint)
        scale = Decimal(10) ** decimals.get(mint, 0)
        value = None if price is None else Decimal(held) / scale * price
        unrealized_usd: Decimal | None = None
        unrealized_sol: Decimal | None = None
        if price is not None:
            unrealized_usd = Decimal(known) / scale * price - position.cost_usd
            if sol_usd:
                unrealized_sol = Decimal(known) / scale * price / sol_usd - position.cost_sol
        if price is None and held:
            incomplete = True
            notes.append(f"{mint}: no price, value and unrealized P&L unknown")
        if unknown or position.unknown_sold:
            incomplete = True
            notes.append(f"{mint}: some units arrived by transfer; their cost basis is unknown")
        average = position.cost_usd / (Decimal(known) / scale) if known else None
        tokens.append(
            TokenPnl(
                mint=mint,
                quantity=held,
                known_basis_quantity=known,
                unknown_basis_quantity=unknown,
                price_usd=price,
                value_usd=value,
                cost_basis_usd=position.cost_usd,
                cost_basis_sol=position.cost_sol,
                average_cost_usd=average,
                realized_usd=position.realized_usd,
                realized_sol=position.realized_sol,
                unrealized_usd=unrealized_usd,
                unrealized_sol=unrealized_sol,
                unknown_basis_sold=position.unknown_sold,
                fees_usd=position.fees_usd,
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
    )
