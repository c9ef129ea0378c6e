"""Building blocks for the chain-server tests: a node on real sockets, keys, transactions."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from websockets.asyncio.client import ClientConnection

from solbot.ops import AsgiServer
from solbot.sim.chain import SimChain
from solbot.sim.chain._spl import associated_token_address, transfer_checked
from solbot.sim.faults import FaultBook
from solbot.sim.rpc import PubSubServer, create_rpc_app

T = TypeVar("T")

USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")


@dataclass
class Node:
    """A SimChain behind its RPC and PubSub servers; tests advance slots with `chain.tick()`."""

    chain: SimChain
    faults: FaultBook
    rpc_url: str
    ws_url: str
    http: httpx.AsyncClient

    async def post(self, body: Any) -> httpx.Response:
        return await self.http.post(
            self.rpc_url, content=orjson.dumps(body), headers={"content-type": "application/json"}
        )

    async def call(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole JSON-RPC response object of one call (asserting HTTP 200)."""
        response = await self.post(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def result(self, method: str, *params: Any) -> Any:
        body = await self.call(method, *params)
        assert "error" not in body, body
        return body["result"]

    async def error(self, method: str, *params: Any) -> dict[str, Any]:
        body = await self.call(method, *params)
        assert "error" in body, body
        error: dict[str, Any] = body["error"]
        return error

    def ticks(self, count: int) -> None:
        for _ in range(count):
            self.chain.tick()


async def running_node() -> AsyncIterator[Node]:
    chain = SimChain()
    faults = FaultBook(rng=random.Random(7))
    rpc = AsgiServer(create_rpc_app(chain, faults), timeout_graceful_shutdown=1)
    pubsub = PubSubServer(chain, faults)
    rpc_port = await rpc.start()
    ws_port = await pubsub.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
            yield Node(
                chain, faults, f"http://127.0.0.1:{rpc_port}", f"ws://127.0.0.1:{ws_port}", http
            )
    finally:
        await pubsub.stop()
        await rpc.stop()


def funded(chain: SimChain, lamports: int = 10 * 10**9) -> Keypair:
    keypair = Keypair()
    chain.airdrop(keypair.pubkey(), lamports)
    return keypair


def signed(
    chain: SimChain,
    payer: Keypair,
    instructions: list[Instruction],
    *,
    blockhash: Hash | None = None,
    signers: list[Keypair] | None = None,
) -> VersionedTransaction:
    recent = blockhash if blockhash is not None else chain.latest_blockhash()[0]
    message = Message.new_with_blockhash(instructions, payer.pubkey(), recent)
    return VersionedTransaction(message, signers or [payer])


def sol_transfer(
    chain: SimChain,
    payer: Keypair,
    to: Pubkey,
    lamports: int = 10**9,
    *,
    blockhash: Hash | None = None,
) -> VersionedTransaction:
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    return signed(chain, payer, [ix], blockhash=blockhash)


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


@dataclass
class TokenSetup:
    mint: Pubkey
    owner: Keypair
    source: Pubkey
    recipient: Pubkey
    destination: Pubkey


def usdc_holder(chain: SimChain, amount: int = 5_000_000) -> TokenSetup:
    """USDC (6 decimals) at its mainnet address; a funded owner holding `amount`; an empty
    recipient token account."""
    if chain.mint_decimals(USDC) is None:
        chain.create_mint(USDC, 6, None)
    owner = funded(chain)
    source = associated_token_address(owner.pubkey(), USDC)
    chain.credit_tokens(source, USDC, owner.pubkey(), amount)
    recipient = Keypair().pubkey()
    destination = associated_token_address(recipient, USDC)
    chain.credit_tokens(destination, USDC, recipient, 0)
    return TokenSetup(USDC, owner, source, recipient, destination)


def usdc_transfer(chain: SimChain, setup: TokenSetup, amount: int) -> VersionedTransaction:
    ix = transfer_checked(
        setup.source, setup.mint, setup.destination, setup.owner.pubkey(), amount, 6
    )
    return signed(chain, setup.owner, [ix])


async def recv_json(ws: ClientConnection, wait_s: float = 5.0) -> Any:
    async with asyncio.timeout(wait_s):
        raw = await ws.recv()
    return orjson.loads(raw)


async def subscribe(ws: ClientConnection, method: str, *params: Any, request_id: int = 1) -> int:
    await ws.send(
        orjson.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        ).decode()
    )
    answer = await recv_json(ws)
    assert answer.get("id") == request_id and "result" in answer, answer
    sub_id: int = answer["result"]
    return sub_id


def solders_parse(resp_type: type[T], body: Any) -> T:
    """`body` parsed by solders' own response type, as a Python client would read it."""
    parsed = resp_type.from_json(orjson.dumps(body).decode())  # type: ignore[attr-defined]
    assert isinstance(parsed, resp_type), parsed
    return parsed
