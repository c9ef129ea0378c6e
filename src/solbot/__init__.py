"""retail-sol-bot: the backend of a retail Solana trading bot."""

__all__ = ["__version__"]

__version__ = "0.1.0"
