"""Trade execution: check the venue's transaction before signing, sign with the wallet, send and
rebroadcast until confirmed or expired, read the fill from the chain, and settle open trades after
a restart.

Ports (implemented elsewhere): `TradeStore` (the ledger), `Signer` (the keystore's wallet),
`Requoter` (the quote service). Pure cores: `TransactionCheck`, `PriorityFeePolicy`,
`ConfirmationTracker`, `fill_from_transaction`, `reason_for_transaction_error`.
"""

from solbot.execution._budget import (
    ComputeBudget,
    can_rewrite,
    read_compute_budget,
    rewrite_compute_budget,
)
from solbot.execution._check import (
    BASE_PROGRAMS,
    JITO_TIP_ACCOUNTS,
    VENUE_PROGRAMS,
    CheckExpectations,
    CheckResult,
    TransactionCheck,
    Violation,
    associated_token_address,
)
from solbot.execution._executor import TradeExecutor
from solbot.execution._fees import PriorityFeePolicy
from solbot.execution._fill import FillReader, fill_from_transaction
from solbot.execution._landing import (
    ConfirmationTracker,
    Expired,
    Landed,
    Lander,
    LandingResult,
    Undetermined,
)
from solbot.execution._model import (
    OPEN_STATES,
    FailureReason,
    Fill,
    Requoter,
    Signer,
    StaleTrade,
    TradeOptions,
    TradeRecord,
    TradeState,
    TradeStore,
)
from solbot.execution._reasons import reason_for_transaction_error, reason_for_venue_error

__all__ = [
    "BASE_PROGRAMS",
    "JITO_TIP_ACCOUNTS",
    "OPEN_STATES",
    "VENUE_PROGRAMS",
    "CheckExpectations",
    "CheckResult",
    "ComputeBudget",
    "ConfirmationTracker",
    "Expired",
    "FailureReason",
    "Fill",
    "FillReader",
    "Landed",
    "Lander",
    "LandingResult",
    "PriorityFeePolicy",
    "Requoter",
    "Signer",
    "StaleTrade",
    "TradeExecutor",
    "TradeOptions",
    "TradeRecord",
    "TradeState",
    "TradeStore",
    "TransactionCheck",
    "Undetermined",
    "Violation",
    "associated_token_address",
    "can_rewrite",
    "fill_from_transaction",
    "read_compute_budget",
    "reason_for_transaction_error",
    "reason_for_venue_error",
    "rewrite_compute_budget",
]
