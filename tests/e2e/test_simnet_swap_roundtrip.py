"""A program written for mainnet works against the simnet by changing only its URLs.

Nothing of solbot's own client code is used here: plain solders, httpx and websockets, as any
Solana program would.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import websockets
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


async def _rpc(client: httpx.AsyncClient, url: str, method: str, params: list[Any]) -> Any:
    response = await client.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    )
    body = response.json()
    assert "error" not in body, body
    return body["result"]


async def _token_balance(client: httpx.AsyncClient, url: str, owner: str, mint: str) -> int:
    result = await _rpc(
        client, url, "getTokenAccountsByOwner", [owner, {"mint": mint}, {"encoding": "jsonParsed"}]
    )
    return sum(
        int(entry["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"])
        for entry in result["value"]
    )


async def test_quote_swap_sign_send_confirm_moves_exactly_the_quoted_amounts(simnet: Any) -> None:
    """Jupiter quote -> /swap -> sign -> sendTransaction -> signatureSubscribe -> balances."""
    endpoints = simnet.endpoints
    keys = json.loads(simnet.market.keys_file.read_text())
    user = Keypair.from_bytes(bytes(keys["wallets"][0]["keypair"]))
    owner = str(user.pubkey())
    rpc = endpoints.rpc_url
    async with httpx.AsyncClient(timeout=10) as client:
        quote_response = await client.get(
            f"{endpoints.venues_url}/jupiter/swap/v1/quote",
            params={
                "inputMint": SOL,
                "outputMint": USDC,
                "amount": "1000000000",
                "slippageBps": 50,
            },
        )
        assert quote_response.status_code == 200, quote_response.text
        quote = quote_response.json()
        swap_response = await client.post(
            f"{endpoints.venues_url}/jupiter/swap/v1/swap",
            json={"userPublicKey": owner, "quoteResponse": quote},
        )
        assert swap_response.status_code == 200, swap_response.text
        swap = swap_response.json()

        unsigned = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
        signers = list(unsigned.message.account_keys)[
            : unsigned.message.header.num_required_signatures
        ]
        signatures = list(unsigned.signatures)
        signatures[signers.index(user.pubkey())] = user.sign_message(
            to_bytes_versioned(unsigned.message)
        )
        signed = VersionedTransaction.populate(unsigned.message, signatures)

        sol_before = (await _rpc(client, rpc, "getBalance", [owner]))["value"]
        usdc_before = await _token_balance(client, rpc, owner, USDC)

        async with websockets.connect(endpoints.ws_url) as ws:
            signature = str(signed.signatures[0])
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "signatureSubscribe",
                        "params": [signature, {"commitment": "confirmed"}],
                    }
                )
            )
            subscribed = json.loads(await ws.recv())
            assert isinstance(subscribed["result"], int)
            sent = await _rpc(
                client,
                rpc,
                "sendTransaction",
                [base64.b64encode(bytes(signed)).decode(), {"encoding": "base64", "maxRetries": 0}],
            )
            assert sent == signature
            notification = json.loads(await ws.recv())
        assert notification["method"] == "signatureNotification"
        assert notification["params"]["result"]["value"]["err"] is None

        transaction = await _rpc(
            client,
            rpc,
            "getTransaction",
            [
                signature,
                {
                    "encoding": "json",
                    "maxSupportedTransactionVersion": 0,
                    "commitment": "confirmed",
                },
            ],
        )
        fee = transaction["meta"]["fee"]
        sol_after = (await _rpc(client, rpc, "getBalance", [owner]))["value"]
        usdc_after = await _token_balance(client, rpc, owner, USDC)

    assert usdc_after - usdc_before == int(quote["outAmount"])
    assert sol_before - sol_after == int(quote["inAmount"]) + fee
    assert fee >= 5000
