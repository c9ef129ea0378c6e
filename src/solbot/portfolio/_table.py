"""`solbot portfolio WALLET`: the API's portfolio JSON as a table a person reads."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.table import Table

__all__ = ["render_portfolio_table"]


def _short(value: str | None, places: int) -> str:
    """A decimal string rounded for reading (the JSON keeps every digit)."""
    if value is None:
        return "-"
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if number != 0 and abs(number) < Decimal(10) ** -places:
        return f"{number:.3E}"
    return f"{number:,.{places}f}"


def render_portfolio_table(portfolio: Mapping[str, Any]) -> Table:
    """One row per holding (token, amount, price and its source, value in USD and SOL), a
    total row, and the slot and cache freshness in the caption."""
    cache = portfolio.get("cache") or {}
    caption = f"as of slot {portfolio.get('asOfSlot')}"
    if cache:
        caption += f" · cache {cache.get('tier')}, {cache.get('ageMs')} ms old"
        if cache.get("stale"):
            caption += " (stale, refreshing)"
    table = Table(title=f"Portfolio {portfolio.get('wallet')}", caption=caption)
    table.add_column("token")
    table.add_column("amount", justify="right")
    table.add_column("price (USD)", justify="right")
    table.add_column("source")
    table.add_column("value (USD)", justify="right")
    table.add_column("value (SOL)", justify="right")
    for row in portfolio.get("holdings", []):
        price = row.get("price")
        name = row.get("symbol") or f"{row['mint'][:4]}…{row['mint'][-4:]}"
        table.add_row(
            name,
            _short(row.get("uiAmount"), 4),
            _short(price["usd"], 6) if price else "missing",
            price["source"] if price else "-",
            _short(row.get("valueUsd"), 2),
            _short(row.get("valueSol"), 4),
        )
    total = portfolio.get("total") or {}
    unpriced = total.get("unpriced") or 0
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        f"{unpriced} unpriced" if unpriced else "",
        _short(total.get("valueUsd"), 2),
        _short(total.get("valueSol"), 4),
    )
    return table
