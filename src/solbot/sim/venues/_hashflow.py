"""Hashflow's RFQ (`POST /taker/v3/rfq`) for `chainType: "solana"`, as the simnet serves it.

The maker quotes from the market's fair prices with a size-dependent spread and fills from its
own inventory accounts (not the pools). The taker sells `baseToken` and receives `quoteToken`;
exactly one of `baseTokenAmount` / `quoteTokenAmount` is given.

Hashflow's Solana answer is not publicly documented, so this simulator makes a choice: each
entry of `quotes` carries, besides `quoteData` (with `quoteExpiry` in unix seconds, which the
taker must honour) and `signature` (the maker's transaction signature, base58), a ready
`transaction` (base64 v0 transaction, partially signed by the maker, fee payer = `trader`) and its
`lastValidBlockHeight`. The transaction is the same atomic RFQ swap every simulated venue builds.

Failures are `{"status": "fail", "error": {"code": <int>, "message": "..."}}` with messages from
Hashflow's: "Rate Limit", "No maker supports this request", "Markets too volatile",
"Below minimum amount", "Exceeds supported amounts".
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook, FaultDecision
from solbot.sim.market import InvalidSwap, Market, UnknownToken
from solbot.sim.venues._common import (
    FastJSON,
    VenueInputError,
    parse_pubkey,
    parse_u64,
    read_json_body,
    request_id,
)

__all__ = ["HASHFLOW_PROGRAM_ID", "QUOTE_TTL_S", "HashflowVenue"]

_TARGET = "hashflow"
HASHFLOW_PROGRAM_ID = "CRhtqXk98ATqo1R8gLg7qcpEMuvoPzqD5GNicPPqLMD"
QUOTE_TTL_S = 30
_MAKER_NAME = "mm-simnet"
_VOLATILE = 4.0  # market volatility multiplier above which the maker calls markets too volatile


def _fail(message: str, code: int = 400, status: int = 400) -> FastJSON:
    return FastJSON(
        {"status": "fail", "error": {"code": code, "message": message}}, status_code=status
    )


class HashflowVenue:
    def __init__(
        self,
        chain: SimChain,
        market: Market,
        faults: FaultBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.market = market
        self.faults = faults
        self._clock = clock

    def routes(self) -> list[HttpRoute]:
        return [HttpRoute("/hashflow/taker/v3/rfq", self.rfq, methods=["POST"])]

    async def rfq(self, request: Request) -> Response:
        decision = await self.faults.before_request(_TARGET)
        refusal = self._fault_refusal(decision)
        if refusal is not None:
            return refusal
        try:
            body = await read_json_body(request)
            return self._rfq(body)
        except VenueInputError as exc:
            return _fail(exc.message)
        except UnknownToken:
            return _fail("No maker supports this request")
        except InvalidSwap as exc:
            return _fail(str(exc))

    def _rfq(self, body: dict[str, Any]) -> Response:
        source = body.get("source")
        if not isinstance(source, str) or not source:
            raise VenueInputError("source is required")
        base_chain, quote_chain = body.get("baseChain"), body.get("quoteChain")
        for chain_spec in (base_chain, quote_chain):
            if not isinstance(chain_spec, dict) or "chainType" not in chain_spec:
                raise VenueInputError("baseChain and quoteChain need a chainType and chainId")
            if chain_spec["chainType"] != "solana":
                raise UnknownToken(str(chain_spec["chainType"]))
        rfqs = body.get("rfqs")
        if not isinstance(rfqs, list) or not rfqs:
            raise VenueInputError("rfqs must be a non-empty list")
        quotes = [self._quote(rfq, base_chain, quote_chain) for rfq in rfqs]
        return FastJSON({"status": "success", "rfqId": request_id(), "quotes": quotes})

    def _quote(self, rfq: Any, base_chain: Any, quote_chain: Any) -> dict[str, Any]:
        if not isinstance(rfq, dict):
            raise VenueInputError("each rfq must be an object")
        base_token, quote_token = rfq.get("baseToken"), rfq.get("quoteToken")
        if not isinstance(base_token, str) or not isinstance(quote_token, str):
            raise VenueInputError("baseToken and quoteToken are required")
        if base_token == quote_token:
            raise VenueInputError("baseToken and quoteToken must differ")
        trader = parse_pubkey(rfq.get("trader"), "trader")
        effective = rfq.get("effectiveTrader") or str(trader)
        base_raw, quote_raw = rfq.get("baseTokenAmount"), rfq.get("quoteTokenAmount")
        if (base_raw is None) == (quote_raw is None):
            raise VenueInputError("exactly one of baseTokenAmount and quoteTokenAmount is required")
        base_amount = None if base_raw is None else parse_u64(base_raw, "baseTokenAmount")
        quote_amount = None if quote_raw is None else parse_u64(quote_raw, "quoteTokenAmount")
        if base_amount == 0 or quote_amount == 0:
            raise InvalidSwap("Below minimum amount")
        quote = self.market.maker_quote(
            base_token, quote_token, base_amount=base_amount, quote_amount=quote_amount
        )
        market = self.market
        fee = market.priority_fee_estimate([], 25)
        built = market.build_swap(
            user=trader,
            input_mint=base_token,
            output_mint=quote_token,
            in_amount=quote.base_amount,
            out_amount=quote.quote_amount,
            legs=[market.maker_leg(quote)],
            compute_unit_price_micro_lamports=fee,
            malicious=self.faults.get(_TARGET).malicious_tx,
        )
        now = self._clock()
        maker_signature = next(
            sig
            for sig, key in zip(
                built.transaction.signatures, built.transaction.message.account_keys, strict=False
            )
            if key == market.maker.pubkey()
        )
        return {
            "quoteData": {
                "baseChain": base_chain,
                "quoteChain": quote_chain,
                "baseToken": base_token,
                "baseTokenAmount": str(quote.base_amount),
                "quoteToken": quote_token,
                "quoteTokenAmount": str(quote.quote_amount),
                "trader": str(trader),
                "effectiveTrader": effective,
                "txid": request_id(),
                "pool": str(market.maker.pubkey()),
                "quoteExpiry": int(now) + QUOTE_TTL_S,
                "nonce": int(now * 1000),
                "externalAccount": None,
                "marketMaker": _MAKER_NAME,
            },
            "signature": str(maker_signature),
            "targetContract": HASHFLOW_PROGRAM_ID,
            "transaction": base64.b64encode(bytes(built.transaction)).decode(),
            "lastValidBlockHeight": built.last_valid_block_height,
        }

    def _fault_refusal(self, decision: FaultDecision) -> Response | None:
        if decision.action == "rate_limited":
            response = _fail("Rate Limit", 429, 429)
            response.headers.update(decision.headers)
            return response
        if decision.action == "error":
            volatile = self.faults.get("market").volatility >= _VOLATILE
            message = "Markets too volatile" if volatile else "No maker supports this request"
            return _fail(message, decision.status, decision.status)
        return None
