"""Stand-ins for the ports other packages implement: an in-memory TradeStore with the ledger's
compare-and-set rule, a Signer over a plain keypair, a Requoter over a quote source."""

from __future__ import annotations

from collections.abc import Sequence

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from solbot.domain import QuoteRequest, QuoteSource, SwapMode, VenueQuote
from solbot.execution import OPEN_STATES, StaleTrade, TradeRecord, TradeState


class InMemoryTradeStore:
    """Trades by id, and every state each one went through (to assert on the order of writes)."""

    def __init__(self) -> None:
        self.trades: dict[str, TradeRecord] = {}
        self.history: dict[str, list[TradeState]] = {}

    def put(self, record: TradeRecord) -> None:
        self.trades[record.trade_id] = record
        self.history.setdefault(record.trade_id, []).append(record.state)

    async def transition(self, record: TradeRecord, *, expected: TradeState) -> None:
        current = self.trades.get(record.trade_id)
        if current is None or current.state is not expected:
            found = None if current is None else current.state
            raise StaleTrade(f"trade {record.trade_id} is {found}, expected {expected}")
        self.put(record)

    async def open_trades(self) -> Sequence[TradeRecord]:
        return [t for t in self.trades.values() if t.state in OPEN_STATES]


class KeypairSigner:
    """What a wallet does with a partially signed transaction: fill in its own signature."""

    def __init__(self, keypair: Keypair) -> None:
        self._keypair = keypair
        self.signed: list[bytes] = []

    @property
    def public_key(self) -> str:
        return str(self._keypair.pubkey())

    def sign_transaction(self, transaction: VersionedTransaction) -> VersionedTransaction:
        message = transaction.message
        signers = list(message.account_keys)[: message.header.num_required_signatures]
        signatures = list(transaction.signatures)
        signatures[signers.index(self._keypair.pubkey())] = self._keypair.sign_message(
            to_bytes_versioned(message)
        )
        signed = VersionedTransaction.populate(message, signatures)
        self.signed.append(bytes(signed))
        return signed


class SourceRequoter:
    """Asks the same source again for the same pair, amount and slippage."""

    def __init__(self, source: QuoteSource) -> None:
        self._source = source
        self.calls = 0

    async def requote(self, quote: VenueQuote, wallet: str, *, timeout_s: float) -> VenueQuote:
        self.calls += 1
        amount = quote.in_amount if quote.swap_mode is SwapMode.EXACT_IN else quote.out_amount
        request = QuoteRequest(
            input_mint=quote.input_mint,
            output_mint=quote.output_mint,
            amount=amount,
            slippage_bps=quote.slippage_bps,
            swap_mode=quote.swap_mode,
            user_public_key=wallet,
        )
        return await self._source.quote(request, timeout_s)
