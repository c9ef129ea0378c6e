"""The bot's side of Solana JSON-RPC and PubSub.

`RpcClient` speaks the HTTP methods the bot needs with explicit timeouts; `PubSubClient` keeps one
reconnecting WebSocket for `signatureSubscribe` / `accountSubscribe`, a latency optimisation that
is never the source of truth. The typed answers (`SignatureStatus`, `Simulation`, ...) tolerate
extra keys.
"""

from solbot.rpc._client import Commitment, RpcClient, RpcError
from solbot.rpc._pubsub import AccountSubscription, PubSubClient, SignatureResult
from solbot.rpc._types import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    AccountState,
    ConfirmedTransaction,
    LatestBlockhash,
    PrioritizationFee,
    SignatureStatus,
    Simulation,
    TokenAccountState,
    TokenBalance,
    decode_token_account,
)

__all__ = [
    "TOKEN_2022_PROGRAM",
    "TOKEN_PROGRAM",
    "AccountState",
    "AccountSubscription",
    "Commitment",
    "ConfirmedTransaction",
    "LatestBlockhash",
    "PrioritizationFee",
    "PubSubClient",
    "RpcClient",
    "RpcError",
    "SignatureResult",
    "SignatureStatus",
    "Simulation",
    "TokenAccountState",
    "TokenBalance",
    "decode_token_account",
]
