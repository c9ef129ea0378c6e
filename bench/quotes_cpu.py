"""The bot's own CPU per `/v1/quote`, without the network (issue 3 (3), where the cost goes).

The throughput benchmark measures the bot and the proxy end to end, where both pay for uvicorn
and aiohttp. This one takes those away: each app is called as ASGI in-process, and its venue
session answers at once with bodies recorded from the simnet. What is left is the app's own
work: for the bot, validation, the aggregation, breakers, limiters, retries, parsing, judging,
the quote book, the answer and the access line; for the proxy (the same FastAPI app as the
throughput benchmark's, `_procs.proxy_app`), FastAPI's routing and one pass-through.

Rows: the bot when Jupiter alone suffices; the bot when Jupiter's quote is judged low (marks set
0.6 % away) so that DFlow and Hashflow are asked too; the proxy. Each row runs `--quotes`
requests in batches of 500; the minimum batch is the least disturbed by other processes, the
median includes the garbage collector (tuned as the server tunes it).

    .venv/bin/python bench/quotes_cpu.py          # ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from _procs import proxy_app, running, start_simnet, workdir

from solbot.api._app import create_app
from solbot.api._quotes import quote_fast_handler, quotes_router
from solbot.bootstrap import _build_quotes
from solbot.config import load_settings
from solbot.domain import token_by_mint
from solbot.ops import Metrics, configure_logging
from solbot.ops._lag import LoopLag
from solbot.quotes import MarkBoard
from solbot.streams import tune_gc
from solbot.venues import QueryParams, VenueAnswer, build_venue_session

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
AMOUNT = 1_111_178_002
VENUES = ("jupiter", "dflow", "hashflow")
BATCH = 500

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class Recording:
    """A venue session that passes calls through and keeps each venue's last answer."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.answers: dict[str, VenueAnswer] = {}

    async def request(self, method: str, url: str, **kwargs: Any) -> VenueAnswer:
        answer: VenueAnswer = await self.inner.request(method, url, **kwargs)
        venue = next((v for v in VENUES if f"/{v}/" in url), None)
        if venue is not None:
            self.answers[venue] = answer
        return answer

    async def aclose(self) -> None:
        await self.inner.aclose()


class Canned:
    """A venue session answering at once with recorded answers (one loop turn, as I/O takes)."""

    def __init__(self, answers: Mapping[str, VenueAnswer]) -> None:
        self.answers = {host: answers[venue] for venue, host in _HOSTS.items()}
        self.calls = 0

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams | None,
        content: bytes | None,
        headers: Mapping[str, str],
        timeout_s: float,
    ) -> VenueAnswer:
        self.calls += 1
        await asyncio.sleep(0)
        return next(answer for host, answer in self.answers.items() if host in url)

    async def aclose(self) -> None:
        return None


# The default (mainnet) URLs' hosts, which the in-process apps are configured with.
_HOSTS = {"jupiter": "jup.ag", "dflow": "dflow.net", "hashflow": "hashflow.com"}


def _marks(off_by: float, jupiter_body: bytes) -> MarkBoard:
    """A board whose SOL price puts Jupiter's recorded quote `off_by` (a fraction) from the mark."""
    quote = json.loads(jupiter_body)
    sol, usdc = token_by_mint(SOL), token_by_mint(USDC)
    assert sol is not None and usdc is not None
    price = (int(quote["outAmount"]) / 10**usdc.decimals) / (AMOUNT / 10**sol.decimals)
    board = MarkBoard(max_age_s=1e9)
    board.update(USDC, 1.0)
    board.update(SOL, price / (1 + off_by))
    return board


async def record() -> dict[str, VenueAnswer]:
    with (
        workdir("bench-quotes-cpu-", keep=False) as wd,
        running(start_simnet(wd, trades_per_s=2.0, seed=7)) as simnet,
    ):
        urls = simnet.ready["settings"]
        settings = load_settings(
            quote_deadline_ms=2000,
            **{f"{v}_url": urls[f"{v}_url"] for v in (*VENUES, "pyth")},
        )
        session = Recording(build_venue_session(settings, max_connections=4))
        board = MarkBoard(max_age_s=1e9)
        board.update(SOL, 1_000.0)  # far from any quote: every venue is asked
        board.update(USDC, 1.0)
        service, *_ = _build_quotes(settings, session, None, None, Metrics(), LoopLag(), board)
        await service.quote({"inputMint": SOL, "outputMint": USDC, "amount": str(AMOUNT)})
        await session.aclose()
    assert set(session.answers) == set(VENUES), session.answers.keys()
    return session.answers


def bot_app(answers: Mapping[str, VenueAnswer], off_by: float) -> tuple[Asgi, Canned]:
    settings = load_settings(
        quote_deadline_ms=2000, jupiter_rps=100_000, dflow_rps=100_000, hashflow_rps=100_000
    )
    session = Canned(answers)
    metrics = Metrics()
    board = _marks(off_by, answers["jupiter"].content)
    service, *_ = _build_quotes(settings, session, None, None, metrics, LoopLag(), board)
    app = create_app(
        metrics=metrics,
        routers=[quotes_router(service)],
        fast_routes={"/v1/quote": quote_fast_handler(service)},
    )
    return app, session


def canned_proxy(answers: Mapping[str, VenueAnswer]) -> tuple[Asgi, Canned]:
    session = Canned(answers)
    return proxy_app(session, "https://api.jup.ag/swap/v1/quote"), session


async def measure(app: Asgi, session: Canned, quotes: int) -> tuple[float, float, dict[str, Any]]:
    query = f"inputMint={SOL}&outputMint={USDC}&amount={AMOUNT}&slippageBps=50".encode()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/quote",
            "raw_path": b"/v1/quote",
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"bot")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
        }

    for _ in range(BATCH):  # warm-up
        await app(scope(), receive, send)
    assert sent[0]["status"] == 200, sent[:2]
    last = json.loads(sent[1]["body"])
    session.calls = 0
    batches = []
    for _ in range(max(1, quotes // BATCH)):
        started = time.process_time()
        for _ in range(BATCH):
            await app(scope(), receive, send)
        batches.append((time.process_time() - started) / BATCH * 1e6)
        sent.clear()
    batches.sort()
    last["_venue_calls"] = session.calls / (len(batches) * BATCH)
    return batches[0], batches[len(batches) // 2], last


async def run(args: argparse.Namespace) -> None:
    answers = await record()
    configure_logging("info", server=True)  # as `solbot serve` does; lines to stderr
    rows = []
    for label, (app, session) in (
        ("bot, Jupiter alone", bot_app(answers, 0.0)),
        ("bot, DFlow and Hashflow asked too", bot_app(answers, 0.006)),
        ("proxy (FastAPI pass-through)", canned_proxy(answers)),
    ):
        tune_gc()
        best, median, last = await measure(app, session, args.quotes)
        winner = last.get("source", "(passed through)")
        rows.append((label, best, median, last["_venue_calls"], winner))
    print(
        f"{args.quotes} quotes per row in batches of {BATCH}, SOL->USDC, venue answers recorded "
        "from the simnet and replayed in-process\n"
    )
    print(
        "| app | CPU per quote, best batch (us) | median batch (us) | venue calls/quote | winner |"
    )
    print("|---|---:|---:|---:|---|")
    for label, best, median, calls, winner in rows:
        print(f"| {label} | {best:.0f} | {median:.0f} | {calls:.2f} | {winner} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=20_000)
    import uvloop

    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
