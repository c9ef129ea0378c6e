"""The simnet's chain: LiteSVM with slots, blockhashes and history (JSON-RPC and PubSub on top)."""

from solbot.sim.chain._chain import (
    BLOCKHASH_VALIDITY_BLOCKS,
    ChainListener,
    PreflightFailure,
    SimChain,
    SimulationResult,
    TokenBalance,
    TransactionRecord,
    error_json,
)

__all__ = [
    "BLOCKHASH_VALIDITY_BLOCKS",
    "ChainListener",
    "PreflightFailure",
    "SimChain",
    "SimulationResult",
    "TokenBalance",
    "TransactionRecord",
    "error_json",
]
