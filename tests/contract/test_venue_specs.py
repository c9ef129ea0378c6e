"""The simulated venues' answers conform to the venues' own OpenAPI specs.

The specs live in the shared reference folder (`../shared/reference/specs` beside the repository):
Jupiter Swap v1, Jupiter Price v3 and DFlow's aggregator API. Responses are fetched over real
HTTP from the venues app and validated with openapi-core as if they came from the real hosts.
Jupiter's published spec is not itself valid OpenAPI (`required: true` on a property), so spec
self-validation is off; response validation is unaffected.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse

from solbot.ops import AsgiServer
from solbot.sim.chain import SimChain
from solbot.sim.faults import FaultBook
from solbot.sim.market import Market
from solbot.sim.venues import create_venues_app

SPECS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "specs"

pytestmark = pytest.mark.skipif(
    not SPECS_DIR.is_dir(),
    reason=f"venue OpenAPI specs not found at {SPECS_DIR} (the shared reference folder)",
)

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
JUP = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"


def _load(name: str) -> OpenAPI:
    path = SPECS_DIR / name
    document = (
        yaml.safe_load(path.read_text()) if name.endswith(".yaml") else json.loads(path.read_text())
    )
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


@dataclass
class Spec:
    api: OpenAPI
    host: str
    prefix: str

    def check(self, method: str, path: str, response: httpx.Response) -> None:
        """Raise unless `response` is valid for `method path` in this spec."""
        request = MockRequest(self.host, method.lower(), self.prefix + path)
        mock = MockResponse(
            response.content,
            status_code=response.status_code,
            content_type=response.headers["content-type"].split(";")[0],
        )
        self.api.validate_response(request, mock)


@pytest.fixture(scope="module")
def jupiter_swap() -> Spec:
    return Spec(_load("jupiter-swap-v1.yaml"), "https://api.jup.ag", "/swap/v1")


@pytest.fixture(scope="module")
def jupiter_price() -> Spec:
    return Spec(_load("jupiter-price-v3.yaml"), "https://api.jup.ag", "")


@pytest.fixture(scope="module")
def dflow() -> Spec:
    return Spec(_load("dflow-aggregator-openapi.json"), "https://quote-api.dflow.net", "")


@dataclass
class Running:
    client: httpx.AsyncClient
    market: Market
    faults: FaultBook


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    chain = SimChain()
    faults = FaultBook(rng=random.Random(5))
    market = Market(chain, faults, seed=21, data_dir=tmp_path)
    market.setup()
    server = AsgiServer(create_venues_app(chain, market, faults), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            yield Running(client, market, faults)
    finally:
        await server.stop()


QUOTE_CASES: list[dict[str, str]] = [
    {"inputMint": SOL, "outputMint": USDC, "amount": "1000000000"},
    {"inputMint": BONK, "outputMint": JUP, "amount": "500000000000", "slippageBps": "100"},
    {"inputMint": USDC, "outputMint": SOL, "amount": "2000000000", "swapMode": "ExactOut"},
]


@pytest.mark.parametrize("params", QUOTE_CASES)
async def test_jupiter_quote_and_swap_conform_to_swap_v1_spec(
    running: Running, jupiter_swap: Spec, params: dict[str, str]
) -> None:
    """GET /quote and POST /swap answers validate against jupiter-swap-v1.yaml."""
    quote = await running.client.get("/jupiter/swap/v1/quote", params=params)
    assert quote.status_code == 200, quote.text
    jupiter_swap.check("GET", "/quote", quote)
    wallet = running.market.demo_wallets[0]
    swap = await running.client.post(
        "/jupiter/swap/v1/swap",
        json={"userPublicKey": str(wallet.pubkey), "quoteResponse": quote.json()},
    )
    assert swap.status_code == 200, swap.text
    jupiter_swap.check("POST", "/swap", swap)


async def test_illiquid_jupiter_quote_conforms_to_swap_v1_spec(
    running: Running, jupiter_swap: Spec
) -> None:
    """Even a many-hop illiquid quote keeps the spec's shape."""
    running.faults.apply_scenario("jupiter-illiquid")
    quote = await running.client.get("/jupiter/swap/v1/quote", params=QUOTE_CASES[0])
    assert len(quote.json()["routePlan"]) > 4
    jupiter_swap.check("GET", "/quote", quote)


async def test_jupiter_price_conforms_to_price_v3_spec(
    running: Running, jupiter_price: Spec
) -> None:
    """GET /price/v3 validates against jupiter-price-v3.yaml, NEWT included."""
    ids = ",".join([SOL, USDC, BONK, running.market.newt_mint])
    response = await running.client.get("/jupiter/price/v3", params={"ids": ids})
    assert len(response.json()) == 4
    jupiter_price.check("GET", "/price/v3", response)


@pytest.mark.parametrize("params", QUOTE_CASES[:2])
async def test_dflow_quote_and_swap_conform_to_dflow_spec(
    running: Running, dflow: Spec, params: dict[str, str]
) -> None:
    """GET /quote and POST /swap answers validate against DFlow's OpenAPI."""
    quote = await running.client.get("/dflow/quote", params=params)
    assert quote.status_code == 200, quote.text
    dflow.check("GET", "/quote", quote)
    wallet = running.market.demo_wallets[0]
    swap = await running.client.post(
        "/dflow/swap", json={"userPublicKey": str(wallet.pubkey), "quoteResponse": quote.json()}
    )
    assert swap.status_code == 200, swap.text
    dflow.check("POST", "/swap", swap)


async def test_dflow_error_bodies_conform_to_dflow_spec(running: Running, dflow: Spec) -> None:
    """400 and 503 error bodies use the spec's codes."""
    bad: list[dict[str, Any]] = [
        {"inputMint": SOL, "outputMint": USDC, "amount": "0"},
        {"inputMint": SOL, "outputMint": SOL, "amount": "10"},
        {"inputMint": "not-a-mint", "outputMint": SOL, "amount": "10"},
    ]
    for params in bad:
        response = await running.client.get("/dflow/quote", params=params)
        assert response.status_code == 400
        dflow.check("GET", "/quote", response)
    running.faults.apply_scenario("all-down")
    down = await running.client.get("/dflow/quote", params=QUOTE_CASES[0])
    assert down.status_code == 503
    dflow.check("GET", "/quote", down)


def test_the_spec_check_rejects_a_malformed_answer(jupiter_swap: Spec, dflow: Spec) -> None:
    """The validation bites: a quote missing required fields is refused by both specs."""
    broken = httpx.Response(
        200, json={"inputMint": SOL, "inAmount": 5}, headers={"content-type": "application/json"}
    )
    with pytest.raises(OpenAPIError):
        jupiter_swap.check("GET", "/quote", broken)
    with pytest.raises(OpenAPIError):
        dflow.check("GET", "/quote", broken)
