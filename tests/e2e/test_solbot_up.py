"""`solbot up` as a user runs it: one process, the bot on the embedded simnet, used over HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


class RunningBot:
    def __init__(
        self, process: subprocess.Popen[str], url: str, output: list[str], cwd: Path
    ) -> None:
        self.process = process
        self.url = url
        self.output = output
        self.cwd = cwd


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    data_dir: Path = tmp_path_factory.mktemp("up")
    env = {
        **os.environ,
        "SOLBOT_SIM_RPC_PORT": "0",
        "SOLBOT_SIM_WS_PORT": "0",
        "SOLBOT_SIM_VENUES_PORT": "0",
        "SOLBOT_STREAM_PORT": "0",
        "SOLBOT_SIM_DATA_DIR": str(data_dir / "simnet"),
        "SOLBOT_SIM_SLOT_MS": "100",
        "SOLBOT_LOG_LEVEL": "warning",
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "solbot", "up", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=data_dir,
    )
    assert process.stdout is not None
    output: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        match = re.search(r"bot API\s+(http://\S+)", line)
        if match:
            url = match.group(1)
        if "is up on the simnet" in line:
            break
    assert url is not None, "".join(output)
    running = RunningBot(process, url, output, data_dir)
    yield running
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_up_prints_where_everything_is(bot: RunningBot) -> None:
    """The start-up output names the RPC, PubSub, venues, mints and the demo keys file."""
    text = "".join(bot.output)
    for expected in ("simnet RPC", "simnet WS", "venues", "USDC", "demo wallets", "bot API"):
        assert expected in text


def test_health_readiness_and_metrics_answer(bot: RunningBot) -> None:
    """/healthz and /readyz are 200; /metrics carries the contract's metric names."""
    with httpx.Client(base_url=bot.url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        client.get("/v1/quote", params={"inputMint": "SOL", "outputMint": "USDC", "amount": "1000"})
        metrics = client.get("/metrics").text
    for name in (
        "solbot_quote_requests_total",
        "solbot_quote_duration_seconds",
        "solbot_upstream_requests_total",
        "solbot_upstream_duration_seconds",
        "solbot_circuit_state",
    ):
        assert name in metrics


def test_quote_by_symbol_is_an_executable_quote(bot: RunningBot) -> None:
    """SOL -> USDC by symbol gives a quote with every source's outcome."""
    with httpx.Client(base_url=bot.url, timeout=10) as client:
        response = client.get(
            "/v1/quote", params={"inputMint": "SOL", "outputMint": "USDC", "amount": "1000000000"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["executable"] is True
    assert int(body["outAmount"]) > 0
    assert {s["source"] for s in body["sources"]} == {"jupiter", "dflow", "hashflow", "pyth"}
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"inputMint": "NOPE", "outputMint": USDC, "amount": "1"}, "INVALID_MINT"),
        (
            {"inputMint": "11111111111111111111111111111111", "outputMint": USDC, "amount": "1"},
            "INVALID_MINT",
        ),
        ({"inputMint": SOL, "outputMint": USDC, "amount": "0"}, "INVALID_AMOUNT"),
        ({"inputMint": SOL, "outputMint": USDC, "amount": "-5"}, "INVALID_AMOUNT"),
        ({"inputMint": SOL, "outputMint": USDC, "amount": "1.5"}, "INVALID_AMOUNT"),
        ({"inputMint": SOL, "outputMint": USDC, "amount": "abc"}, "INVALID_AMOUNT"),
        ({"inputMint": SOL, "outputMint": USDC, "amount": "9" * 40}, "INVALID_AMOUNT"),
        (
            {"inputMint": SOL, "outputMint": USDC, "amount": "18446744073709551616"},
            "INVALID_AMOUNT",
        ),
        ({"inputMint": SOL, "outputMint": "SOL", "amount": "1"}, "SAME_MINT"),
        (
            {"inputMint": SOL, "outputMint": USDC, "amount": "1", "slippageBps": "10001"},
            "INVALID_SLIPPAGE",
        ),
        (
            {"inputMint": SOL, "outputMint": USDC, "amount": "1", "slippageBps": "-1"},
            "INVALID_SLIPPAGE",
        ),
        (
            {"inputMint": SOL, "outputMint": USDC, "amount": "1", "slippageBps": "x"},
            "INVALID_SLIPPAGE",
        ),
        (
            {"inputMint": SOL, "outputMint": USDC, "amount": "1", "sources": "binance"},
            "INVALID_SOURCES",
        ),
        ({"outputMint": USDC, "amount": "1"}, "INVALID_REQUEST"),
    ],
)
def test_bad_quote_input_is_a_400_with_its_code(
    bot: RunningBot, params: dict[str, str], code: str
) -> None:
    """Each kind of bad input gets a 400, the contract's code and a sentence; never a 500."""
    with httpx.Client(base_url=bot.url, timeout=10) as client:
        response = client.get("/v1/quote", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 10


_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["SOL", "USDC", "BONK", SOL, USDC, "", "0", "-1", "1e9", "NaN", "٣"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["inputMint", "outputMint", "amount", "slippageBps", "swapMode", "sources", "junk"]
        ),
        _text,
    )
)
def test_fuzzed_quote_queries_never_get_a_5xx(bot: RunningBot, params: dict[str, str]) -> None:
    """Whatever the query string, /v1/quote answers 200 or a 4xx with the error shape."""
    with httpx.Client(base_url=bot.url, timeout=10) as client:
        response = client.get("/v1/quote", params=params)
    assert response.status_code < 500 or response.json()["error"]["code"] in (
        "ALL_SOURCES_FAILED",
    ), response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"code", "message"}


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "solbot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
        cwd=cwd,
    )


def _new_user(bot: RunningBot, name: str) -> str:
    result = _cli("users", "create", name, cwd=bot.cwd)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("sbt_")
    return token


def test_a_user_creates_and_lists_custodial_wallets(bot: RunningBot) -> None:
    """`users create` prints a token; `wallet new` makes a wallet; `wallet list` shows it."""
    token = _new_user(bot, "alice")
    created = _cli("wallet", "new", "--api", bot.url, env={"SOLBOT_API_TOKEN": token})
    assert created.returncode == 0, created.stderr
    address = created.stdout.strip()
    listed = _cli("wallet", "list", "--api", bot.url, "--token", token)
    assert listed.returncode == 0, listed.stderr
    assert address in listed.stdout


def test_wallets_need_a_valid_token_and_are_private(bot: RunningBot) -> None:
    """No or bad token: 401 with WWW-Authenticate; one user never sees another's wallets."""
    bob, carol = _new_user(bot, "bob"), _new_user(bot, "carol")
    with httpx.Client(base_url=bot.url, timeout=10) as client:
        missing = client.get("/v1/wallets")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["code"] == "UNAUTHORIZED"
        bad = client.get("/v1/wallets", headers={"Authorization": "Bearer sbt_not-a-token"})
        assert bad.status_code == 401
        made = client.post("/v1/wallets", headers={"Authorization": f"Bearer {bob}"})
        assert made.status_code == 201
        bobs = made.json()["wallet"]
        carols = client.get("/v1/wallets", headers={"Authorization": f"Bearer {carol}"}).json()
    assert bobs not in {w["wallet"] for w in carols["wallets"]}
    assert "secret" not in made.text.lower() and 'key"' not in made.text


def test_quote_command_prints_every_source_and_the_winner(bot: RunningBot) -> None:
    """`solbot quote SOL USDC 1.5` shows a table of sources and the winner; exit code 0."""
    result = _cli("quote", "SOL", "USDC", "1.5", "--api", bot.url)
    assert result.returncode == 0, result.stderr
    for source in ("jupiter", "dflow", "hashflow", "pyth"):
        assert source in result.stdout
    assert "winner:" in result.stdout
    assert "USDC" in result.stdout


def test_quote_command_json_is_the_apis_json(bot: RunningBot) -> None:
    """`--json` prints the API's JSON: 1.5 SOL is 1,500,000,000 lamports in."""
    import json

    result = _cli("quote", "SOL", "USDC", "1.5", "--json", "--api", bot.url)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["inAmount"] == "1500000000"
    assert body["quoteId"]


def test_quote_command_bad_usage_exits_2_with_one_line(bot: RunningBot) -> None:
    """A non-numeric amount is a usage error: exit code 2, one line, no traceback."""
    result = _cli("quote", "SOL", "USDC", "lots", "--api", bot.url)
    assert result.returncode == 2
    assert "AMOUNT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_quote_command_without_a_bot_fails_with_one_line() -> None:
    """No bot listening: exit code 1 and a sentence saying so."""
    result = _cli("quote", "SOL", "USDC", "1", "--api", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the bot" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_fails_at_start_naming_the_variable() -> None:
    """SOLBOT_QUOTE_DEADLINE_MS=abc: exit code 1 and one line naming the variable."""
    result = _cli("serve", "--port", "0", env={"SOLBOT_QUOTE_DEADLINE_MS": "abc"})
    assert result.returncode == 1
    assert "SOLBOT_QUOTE_DEADLINE_MS" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_stops_everything_cleanly(bot: RunningBot) -> None:
    """SIGINT ends `solbot up` with exit code 0 and a clean message (runs last in this module)."""
    bot.process.send_signal(signal.SIGINT)
    remaining, _ = bot.process.communicate(timeout=20)
    assert bot.process.returncode == 0, remaining
    assert "stopped cleanly" in remaining
    assert "Traceback" not in remaining
