"""The `solbot` command line.

Exit codes: 0 success, 2 bad usage (typer/click), 1 failure with one line on stderr.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from solbot.errors import SolbotError

_T = TypeVar("_T")

app = typer.Typer(
    help="retail-sol-bot: the backend of a retail Solana trading bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_out = Console()
_err = Console(stderr=True)


def _usage(message: str) -> NoReturn:
    _err.print(f"usage error: {message}", highlight=False)
    raise typer.Exit(2)


def _fail(message: str) -> NoReturn:
    _err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


def _run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` on uvloop; SIGINT/SIGTERM set `stop` once (a second Ctrl-C forces exit)."""
    import uvloop

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                sys.exit(130)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await main(stop)

    try:
        uvloop.run(runner())
    except SolbotError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(str(exc))


PortOption = Annotated[int, typer.Option(min=0, max=65535)]


@app.command()
def sim(
    rpc_port: PortOption = 8899,
    ws_port: PortOption = 8900,
    venues_port: PortOption = 8910,
    slot_ms: Annotated[int, typer.Option(min=1, help="slot time in milliseconds")] = 400,
    scenario: Annotated[str, typer.Option(help="fault scenario to start with")] = "healthy",
) -> None:
    """Run the simnet alone: chain (JSON-RPC + PubSub), market and venue simulators."""
    from solbot.config import load_simnet_settings
    from solbot.sim import Simnet

    settings = _load(
        lambda: load_simnet_settings(
            rpc_port=rpc_port, ws_port=ws_port, venues_port=venues_port, slot_ms=slot_ms
        )
    )

    async def main(stop: asyncio.Event) -> None:
        simnet = Simnet(settings)
        _apply_scenario(simnet, scenario)
        async with simnet:
            _print_simnet(simnet)
            _out.print("simnet running; Ctrl-C stops it")
            await stop.wait()
        _out.print("simnet stopped")

    _run(main)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="where the bot API listens")] = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """Run the whole bot on the embedded simnet, in one process."""
    from solbot.bootstrap import build_services
    from solbot.config import load_settings, load_simnet_settings
    from solbot.ops import configure_logging
    from solbot.sim import Simnet

    sim_settings = _load(load_simnet_settings)

    async def main(stop: asyncio.Event) -> None:
        async with Simnet(sim_settings) as simnet:
            assert simnet.endpoints is not None
            settings = _load(
                lambda: load_settings(
                    api_host=host,
                    api_port=port,
                    simnet=True,
                    simnet_data_dir=sim_settings.data_dir,
                    **simnet.endpoints.settings_overrides(sim_settings.host),  # type: ignore[union-attr]
                )
            )
            configure_logging(settings.log_level, server=True)
            async with build_services(settings) as services:
                _print_simnet(simnet)
                await _serve(services, "all", stop, banner="retail-sol-bot is up on the simnet")
        _out.print("stopped cleanly")

    _run(main)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(min=0, max=65535)] = None,
    host: Annotated[str | None, typer.Option()] = None,
    role: Annotated[str, typer.Option(help="all | api | streams | ingest")] = "all",
) -> None:
    """Run the bot against the upstreams the settings name (mainnet or a running simnet)."""
    from solbot.bootstrap import build_services
    from solbot.config import load_settings
    from solbot.ops import configure_logging

    if role not in ("all", "api", "streams", "ingest"):
        _err.print(f"error: --role must be one of all, api, streams, ingest (got {role!r})")
        raise typer.Exit(2)
    overrides: dict[str, object] = {}
    if port is not None:
        overrides["api_port"] = port
    if host is not None:
        overrides["api_host"] = host
    settings = _load(lambda: load_settings(**overrides))

    async def main(stop: asyncio.Event) -> None:
        configure_logging(settings.log_level, server=True)
        async with build_services(settings) as services:
            await _serve(services, role, stop, banner=f"serving (role {role})")

    _run(main)


async def _serve(services: Any, role: str, stop: asyncio.Event, *, banner: str) -> None:
    """Start the servers `role` asks for, print where they are, and run until `stop`.

    all: HTTP API and stream gateway; api: the HTTP API; streams: the gateway; ingest: neither
    (trades, prices and balance watching run in the background of every role)."""
    from solbot.bootstrap import build_app
    from solbot.ops import AsgiServer
    from solbot.streams import StreamServer, tune_gc

    settings = services.settings
    api = AsgiServer(build_app(services), settings.api_host, settings.api_port)
    gateway = StreamServer(services.hub, services.metrics, settings.api_host, settings.stream_port)
    running: list[Any] = []
    try:
        if role in ("all", "api"):
            await api.start()
            running.append(api)
            _out.print(f"bot API      {api.url}  (docs {api.url}/docs)")
            # The line scripts wait for: "serving <url>".
            typer.echo(f"serving {api.url}")
        if role in ("all", "streams"):
            await gateway.start()
            running.append(gateway)
            _out.print(f"streams      {gateway.url}")
        tune_gc()
        _out.print(f"{banner}; Ctrl-C stops it")
        await stop.wait()
    finally:
        for server in reversed(running):
            await server.stop()


@app.command()
def quote(
    input_token: Annotated[str, typer.Argument(metavar="IN", help="mint or symbol (SOL, USDC...)")],
    output_token: Annotated[str, typer.Argument(metavar="OUT", help="mint or symbol")],
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="in UI units of IN (1.5 SOL)")],
    slippage_bps: Annotated[int, typer.Option(min=0, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON")] = False,
    base_units: Annotated[
        bool, typer.Option("--base-units", help="AMOUNT is already in base units")
    ] = False,
    api: Annotated[str | None, typer.Option(help="bot API URL (default from settings)")] = None,
) -> None:
    """Ask the running bot for a quote: every source's outcome and the winner."""
    import json
    from decimal import Decimal

    import httpx

    from solbot.config import load_settings
    from solbot.domain import resolve_symbol, token_by_mint

    settings = _load(load_settings)
    base_url = (api or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
    input_mint = resolve_symbol(input_token)
    output_mint = resolve_symbol(output_token)
    raw_amount = _base_units(amount, input_mint, input_token, base_units=base_units)
    params = {
        "inputMint": input_mint,
        "outputMint": output_mint,
        "amount": str(raw_amount),
        "slippageBps": str(slippage_bps),
    }
    try:
        response = httpx.get(f"{base_url}/v1/quote", params=params, timeout=10.0)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the bot at {base_url} ({type(exc).__name__}); is `solbot up` running?")
    try:
        body = response.json()
    except ValueError:
        _fail(f"the bot answered HTTP {response.status_code} without JSON")
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        if response.status_code >= 400:
            raise typer.Exit(1)
        return
    sources = body.get("sources") or (body.get("error", {}).get("details") or {}).get("sources", [])
    table = Table(title="sources")
    for column in ("source", "status", "latency ms", "out amount", "score", "reason"):
        table.add_column(column)
    for source in sources:
        table.add_row(
            source.get("source", "?"),
            source.get("status", "?"),
            str(source.get("latencyMs", "")),
            str(source.get("outAmount", "")),
            str(source.get("score", "")),
            str(source.get("reason", "") or ""),
        )
    _out.print(table)
    if response.status_code >= 400:
        error = body.get("error", {})
        _fail(f"{error.get('code', response.status_code)}: {error.get('message', 'no quote')}")
    out_token = token_by_mint(output_mint)
    out_ui = (
        f"{Decimal(body['outAmount']) / (Decimal(10) ** out_token.decimals)} {out_token.symbol}"
        if out_token is not None
        else f"{body['outAmount']} base units"
    )
    _out.print(
        f"winner: [bold]{body['source']}[/bold]  out {out_ui}  (min {body['minOutAmount']}, "
        f"confidence {body['confidence']}, score {body['score']}, "
        f"{'executable' if body['executable'] else 'indicative only'})"
    )
    for warning in body.get("warnings", []):
        _out.print(f"[yellow]warning[/yellow] {warning['code']}: {warning['message']}")
    _out.print(f"quoteId {body['quoteId']} valid until {body['expiresAt']}; {body['elapsedMs']} ms")


users_app = typer.Typer(help="Users of the bot and their API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")
wallet_app = typer.Typer(help="Custodial wallets, through the running bot.", no_args_is_help=True)
app.add_typer(wallet_app, name="wallet")

TokenOption = Annotated[
    str | None,
    typer.Option(envvar="SOLBOT_API_TOKEN", help="your API token (or SOLBOT_API_TOKEN)"),
]
ApiOption = Annotated[str | None, typer.Option(help="bot API URL (default from settings)")]


@users_app.command("create")
def users_create(name: Annotated[str, typer.Argument(help="a name for the user")]) -> None:
    """Create a user and print its API token (shown once; only its hash is stored)."""
    from solbot.auth import AuthService
    from solbot.config import load_settings
    from solbot.ledger import Ledger

    settings = _load(load_settings)

    async def main(_stop: asyncio.Event) -> None:
        async with Ledger.open(settings.database_url) as ledger:
            user, token = await AuthService(ledger.users).create_user(name)
        _out.print(f"user {user.name} ({user.id}) created; API token (shown once):")
        typer.echo(token)

    _run(main)


def _api_call(
    method: str,
    path: str,
    *,
    api: str | None,
    token: str | None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    import httpx

    from solbot.config import load_settings

    if not token:
        _usage("an API token is needed: --token or SOLBOT_API_TOKEN (`solbot users create NAME`)")
    settings = _load(load_settings)
    base_url = (api or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
    try:
        response = httpx.request(
            method,
            f"{base_url}{path}",
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=15.0,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the bot at {base_url} ({type(exc).__name__}); is it running?")
    try:
        body = response.json()
    except ValueError:
        _fail(f"the bot answered HTTP {response.status_code} without JSON")
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        _fail(f"{error.get('code', response.status_code)}: {error.get('message', 'failed')}")
    return body


@wallet_app.command("new")
def wallet_new(token: TokenOption = None, api: ApiOption = None) -> None:
    """Create a custodial wallet for you and print its address."""
    body = _api_call("POST", "/v1/wallets", api=api, token=token)
    typer.echo(body["wallet"])


@wallet_app.command("list")
def wallet_list(token: TokenOption = None, api: ApiOption = None) -> None:
    """Your custodial wallets."""
    body = _api_call("GET", "/v1/wallets", api=api, token=token)
    table = Table(title="wallets")
    table.add_column("wallet")
    table.add_column("created")
    for wallet in body["wallets"]:
        table.add_row(wallet["wallet"], wallet["createdAt"])
    _out.print(table)


def _ui_amount(raw: int | str | None, mint: str) -> str:
    from decimal import Decimal

    from solbot.domain import token_by_mint

    if raw is None:
        return "-"
    token = token_by_mint(mint)
    if token is None:
        return f"{raw} base units of {mint}"
    return f"{Decimal(int(raw)) / (Decimal(10) ** token.decimals)} {token.symbol}"


@app.command()
def trade(
    input_token: Annotated[str, typer.Argument(metavar="IN", help="mint or symbol (SOL, USDC...)")],
    output_token: Annotated[str, typer.Argument(metavar="OUT", help="mint or symbol")],
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="in UI units of IN (0.5 SOL)")],
    wallet: Annotated[str, typer.Option(help="one of your custodial wallets")],
    slippage_bps: Annotated[int, typer.Option(min=0, max=10_000)] = 50,
    max_priority_fee_lamports: Annotated[
        int | None, typer.Option(min=0, help="cap on the priority fee")
    ] = None,
    base_units: Annotated[
        bool, typer.Option("--base-units", help="AMOUNT is already in base units")
    ] = False,
    wait_s: Annotated[float, typer.Option("--wait", min=1, help="seconds to follow it")] = 180.0,
    token: TokenOption = None,
    api: ApiOption = None,
) -> None:
    """Swap AMOUNT of IN for OUT from your wallet, and follow the trade until it lands or fails."""
    import time
    import uuid

    from solbot.domain import resolve_symbol

    input_mint = resolve_symbol(input_token)
    output_mint = resolve_symbol(output_token)
    raw_amount = _base_units(amount, input_mint, input_token, base_units=base_units)
    body: dict[str, Any] = {
        "wallet": wallet,
        "inputMint": input_mint,
        "outputMint": output_mint,
        "amount": str(raw_amount),
        "slippageBps": slippage_bps,
    }
    if max_priority_fee_lamports is not None:
        body["maxPriorityFeeLamports"] = str(max_priority_fee_lamports)
    # A fresh key per command: a retry of this same command's POST would reuse it.
    key = uuid.uuid4().hex
    accepted = _api_call(
        "POST", "/v1/trades", api=api, token=token, json=body, headers={"Idempotency-Key": key}
    )
    trade_id = accepted["tradeId"]
    _out.print(
        f"trade {trade_id} accepted ({_ui_amount(raw_amount, input_mint)} -> {output_token})"
    )
    deadline = time.monotonic() + wait_s
    status = accepted["status"]
    current: dict[str, Any] = accepted
    with _out.status(f"[bold]{status}[/bold]", spinner="dots") as spinner:
        while status not in ("confirmed", "failed", "expired"):
            if time.monotonic() > deadline:
                _fail(
                    f"trade {trade_id} is still {status} after {wait_s:.0f}s; follow it with "
                    f"GET /v1/trades/{trade_id}"
                )
            time.sleep(0.25)
            current = _api_call("GET", f"/v1/trades/{trade_id}", api=api, token=token)
            if current["status"] != status:
                status = current["status"]
                signature = current.get("signature")
                spinner.update(f"[bold]{status}[/bold]" + (f"  {signature}" if signature else ""))
                _out.print(f"  {status}", highlight=False)
    if status != "confirmed":
        failure = current.get("failure") or {}
        _fail(
            f"trade {status}: {failure.get('code', status.upper())}: "
            f"{failure.get('message', 'no reason given')}"
        )
    actual = current.get("actual") or {}
    fees = current.get("fees") or {}
    _out.print(
        f"[green]confirmed[/green] in slot {current.get('slot')}: {current.get('signature')}"
    )
    _out.print(
        f"  paid     {_ui_amount(actual.get('inAmount'), input_mint)}"
        f"  (quoted {_ui_amount((current.get('quoted') or {}).get('inAmount'), input_mint)})"
    )
    _out.print(
        f"  received {_ui_amount(actual.get('outAmount'), output_mint)}"
        f"  (quoted {_ui_amount((current.get('quoted') or {}).get('outAmount'), output_mint)}, "
        f"min {_ui_amount((current.get('quoted') or {}).get('minOutAmount'), output_mint)})"
    )
    _out.print(
        f"  fees     {fees.get('totalLamports')} lamports (base {fees.get('baseLamports')}, "
        f"priority {fees.get('priorityLamports')}); rent {actual.get('rentLamports')} lamports"
    )


def _base_units(amount: str, mint: str, shown: str, *, base_units: bool) -> int:
    from decimal import Decimal, InvalidOperation

    from solbot.domain import token_by_mint

    if base_units:
        if not amount.isdigit() or int(amount) == 0:
            _usage("AMOUNT must be a positive whole number of base units with --base-units")
        return int(amount)
    token = token_by_mint(mint)
    if token is None:
        _usage(f"decimals of {shown} are unknown here; pass AMOUNT in base units with --base-units")
    try:
        ui = Decimal(amount)
    except InvalidOperation:
        _usage(f"AMOUNT {amount!r} is not a number")
    if not ui.is_finite() or ui <= 0:
        _usage("AMOUNT must be a positive number")
    raw = int(ui * (Decimal(10) ** token.decimals))
    if raw == 0:
        _usage(f"AMOUNT is below one base unit of {token.symbol}")
    return raw


@app.command()
def portfolio(
    wallet: Annotated[str, typer.Argument(help="one of your custodial wallets")],
    token: TokenOption = None,
    api: ApiOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON")] = False,
) -> None:
    """Holdings, prices and value of a wallet, as the API shows them."""
    import json

    from solbot.portfolio import render_portfolio_table

    body = _api_call("GET", f"/v1/portfolio/{wallet}", api=api, token=token)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    _out.print(render_portfolio_table(body))


@app.command()
def version() -> None:
    """Print the version."""
    from solbot import __version__

    typer.echo(__version__)


def _load(factory: Callable[[], _T]) -> _T:
    try:
        return factory()
    except SolbotError as exc:
        _fail(exc.message)


def _apply_scenario(simnet: object, scenario: str) -> None:
    from solbot.sim import Simnet
    from solbot.sim.faults import FaultProfileError

    assert isinstance(simnet, Simnet)
    try:
        simnet.faults.apply_scenario(scenario)
    except FaultProfileError as exc:
        _fail(str(exc))


def _print_simnet(simnet: object) -> None:
    from solbot.sim import Simnet

    assert isinstance(simnet, Simnet) and simnet.endpoints is not None
    endpoints = simnet.endpoints
    _out.print(f"simnet RPC   {endpoints.rpc_url}")
    _out.print(f"simnet WS    {endpoints.ws_url}")
    _out.print(
        f"venues       {endpoints.venues_url}  (faults: {endpoints.venues_url}/admin/faults)"
    )
    tokens = Table(title="tokens")
    for column in ("symbol", "mint", "decimals", "pyth feed"):
        tokens.add_column(column)
    for token in simnet.market.tokens.values():
        tokens.add_row(token.symbol, token.mint, str(token.decimals), token.pyth_feed_id or "-")
    _out.print(tokens)
    wallets = Table(title="demo wallets")
    wallets.add_column("name")
    wallets.add_column("public key")
    wallets.add_column("SOL", justify="right")
    for wallet in simnet.market.demo_wallets:
        lamports = simnet.chain.get_balance(wallet.pubkey)
        wallets.add_row(wallet.name, str(wallet.pubkey), f"{lamports / 1e9:,.3f}")
    _out.print(wallets)
    typer.echo(f"demo keys    {simnet.market.keys_file}  (simnet test keys, worthless elsewhere)")


def _register_loadtest() -> None:
    from solbot.loadtest._cli import loadtest

    app.command("loadtest")(loadtest)


_register_loadtest()


def main() -> None:
    app()
