"""How far the simnet's Jupiter quotes sit from the Pyth mark over time (issue 3 (3), context).

The bot asks DFlow and Hashflow whenever Jupiter's output is more than the user's slippage from
the independent mark, so this drift decides how many venue requests a quote costs. Starts a
simnet (same seed as the throughput benchmark), then for `--seconds` asks Jupiter's `/quote` for
each pair of the benchmark's mix (random amounts, as the benchmark does) and Pyth for the mark,
and counts per 5 s window and pair how often the output is above, below or within 50 bps of it.

    .venv/bin/python bench/quotes_market_drift.py            # ~70 s
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import time

from _load import PAIRS, quote_params
from _procs import running, start_simnet, workdir

from solbot.config import load_settings
from solbot.domain import QuoteRequest, SwapMode, token_by_mint
from solbot.quotes._scoring import mark_out_amount
from solbot.venues import JupiterClient, PythClient, build_venue_session

TOLERANCE_BPS = 50


async def run(args: argparse.Namespace) -> None:
    with (
        workdir("bench-market-drift-", keep=False) as wd,
        running(start_simnet(wd, trades_per_s=args.trades_per_s, seed=args.seed)) as simnet,
    ):
        urls = simnet.ready["settings"]
        http = build_venue_session(load_settings(quote_deadline_ms=2000), max_connections=10)
        pyth = PythClient(http, urls["pyth_url"])
        jupiter = JupiterClient(http, urls["jupiter_url"])
        rng = random.Random(args.seed)
        mints = sorted({mint for pair in PAIRS for mint in pair[:2]})
        counts: dict[tuple[int, str], collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < args.seconds:
            marks = await pyth.prices(mints, 1.0)
            for pair in PAIRS:
                params = quote_params(rng, (pair,))
                request = QuoteRequest(
                    params["inputMint"],
                    params["outputMint"],
                    int(params["amount"]),
                    50,
                    SwapMode.EXACT_IN,
                )
                quote = await jupiter.quote(request, 1.0)
                token_in = token_by_mint(request.input_mint)
                token_out = token_by_mint(request.output_mint)
                assert token_in is not None and token_out is not None
                mark = mark_out_amount(
                    request.amount,
                    marks[request.input_mint],
                    marks[request.output_mint],
                    token_in.decimals,
                    token_out.decimals,
                )
                assert mark
                drift_bps = (quote.out_amount - mark) * 10_000 / mark
                side = (
                    "above"
                    if drift_bps > TOLERANCE_BPS
                    else "below"
                    if drift_bps < -TOLERANCE_BPS
                    else "within"
                )
                counts[(int(elapsed // 5) * 5, f"{token_in.symbol}->{token_out.symbol}")][side] += 1
            await asyncio.sleep(0.05)
        await http.aclose()
    pairs = sorted({pair for _, pair in counts})
    print(
        f"seed {args.seed}, {args.trades_per_s:g} background trades/s; Jupiter's output against "
        f"the Pyth mark, share of quotes more than {TOLERANCE_BPS} bps above / below\n"
    )
    print("| window s | " + " | ".join(pairs) + " |")
    print("|---:|" + "---|" * len(pairs))
    totals: collections.Counter[str] = collections.Counter()
    for window in sorted({w for w, _ in counts}):
        cells = []
        for pair in pairs:
            c = counts[(window, pair)]
            n = max(1, sum(c.values()))
            totals.update(c)
            cells.append(f"{100 * c['above'] / n:.0f} % / {100 * c['below'] / n:.0f} %")
        print(f"| {window}-{window + 5} | " + " | ".join(cells) + " |")
    n = sum(totals.values())
    print(
        f"\nall: {100 * totals['above'] / n:.0f} % above, {100 * totals['below'] / n:.0f} % "
        f"below, {100 * totals['within'] / n:.0f} % within ({n} quotes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trades-per-s", type=float, default=2.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
