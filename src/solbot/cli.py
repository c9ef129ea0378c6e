"""The `solbot` command line. Placeholder wiring; commands are added by their capabilities."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="retail-sol-bot: the backend of a retail Solana trading bot.", no_args_is_help=True
)


@app.command()
def version() -> None:
    """Print the version."""
    from solbot import __version__

    typer.echo(__version__)


def main() -> None:
    app()
