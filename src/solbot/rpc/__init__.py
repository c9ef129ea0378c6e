"""The bot's side of Solana JSON-RPC."""

from solbot.rpc._client import RpcClient, RpcError

__all__ = ["RpcClient", "RpcError"]
