"""The shared HTTP shell: per-call deadlines, transport failures, rate-limit hints, secrecy."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from solbot.config import load_settings
from solbot.domain import QuoteRequest, QuoteSource
from solbot.errors import (
    SolbotError,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from solbot.venues import (
    DFlowClient,
    HashflowClient,
    JupiterClient,
    PythClient,
    VenueSession,
    build_http_client,
    retry_after_s,
)
from solbot.venues._http import VenueAnswer, VenueHttp

from .bodies import JUPITER_QUOTE_DOCS, SOL, USDC, USER
from .support import Handler, HandlerSession, HttpFactory, json_response

REQUEST = QuoteRequest(SOL, USDC, 100_000_000, user_public_key=USER)
SECRET = "sk-live-DO-NOT-LEAK-4f9c2e"

ClientFactory = Callable[[VenueSession], QuoteSource]
KEYED_CLIENTS: dict[str, ClientFactory] = {
    "jupiter": lambda http: JupiterClient(
        http, "https://j.test/swap/v1", api_key=SecretStr(SECRET)
    ),
    "dflow": lambda http: DFlowClient(http, "https://d.test", api_key=SecretStr(SECRET)),
    "hashflow": lambda http: HashflowClient(http, "https://h.test", api_key=SecretStr(SECRET)),
}
ALL_CLIENTS: dict[str, ClientFactory] = {
    **KEYED_CLIENTS,
    "pyth": lambda http: PythClient(http, "https://p.test"),
}


async def test_a_hung_venue_times_out_at_the_callers_timeout(http_factory: HttpFactory) -> None:
    """A venue that never answers costs timeout_s, then UpstreamTimeout."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return json_response(200, JUPITER_QUOTE_DOCS)

    client = JupiterClient(http_factory(hang), "https://j.test/swap/v1")
    started = time.perf_counter()
    with pytest.raises(UpstreamTimeout) as caught:
        await client.quote(REQUEST, 0.1)

    assert time.perf_counter() - started < 1.0
    assert caught.value.source == "jupiter"
    assert isinstance(caught.value, UpstreamUnavailable)


async def test_a_trickling_body_is_aborted_at_the_overall_timeout(
    http_factory: HttpFactory,
) -> None:
    """Bytes arriving slowly, each within a read timeout, still cannot outlive timeout_s."""

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(100):
            await asyncio.sleep(0.02)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    client = DFlowClient(http_factory(handler), "https://d.test")
    started = time.perf_counter()
    with pytest.raises(UpstreamTimeout):
        await client.quote(REQUEST, 0.2)

    assert time.perf_counter() - started < 1.0


async def test_every_request_carries_an_explicit_timeout(http_factory: HttpFactory) -> None:
    """The session is handed the call's own timeout_s with every request."""
    session = http_factory(lambda request: json_response(200, JUPITER_QUOTE_DOCS))

    await JupiterClient(session, "https://j.test/swap/v1").quote(REQUEST, 0.75)

    assert session.timeouts_s == [0.75]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("connection refused"), UpstreamUnavailable),
        (httpx.RemoteProtocolError("peer closed connection"), UpstreamUnavailable),
        (httpx.ConnectTimeout("connect timed out"), UpstreamTimeout),
        (httpx.ReadTimeout("read timed out"), UpstreamTimeout),
        (httpx.PoolTimeout("no free connection"), UpstreamTimeout),
    ],
)
async def test_transport_failures_map_onto_the_error_tree(
    http_factory: HttpFactory, error: httpx.HTTPError, expected: type[UpstreamError]
) -> None:
    """Refused connections and broken peers are Unavailable; httpx timeouts are UpstreamTimeout."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(expected) as caught:
        await HashflowClient(http_factory(handler), "https://h.test").quote(REQUEST, 1.0)

    assert type(caught.value) is expected
    assert caught.value.__cause__ is None  # the httpx request (and our key) is not chained


@pytest.mark.parametrize("timeout_s", [0.0, -1.0, float("nan"), float("inf")])
async def test_a_call_without_a_finite_positive_timeout_is_refused(
    http_factory: HttpFactory, timeout_s: float
) -> None:
    """No call goes out without a real bound."""
    client = PythClient(http_factory(lambda r: json_response(200, "{}")), "https://p.test")
    with pytest.raises(ValueError, match="timeout_s"):
        await client.quote(QuoteRequest(SOL, USDC, 10**9), timeout_s)


def _leak_scenarios() -> dict[str, Handler]:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def echo(status: int) -> Handler:
        # A venue that echoes the credential back in its error message.
        return lambda request: json_response(
            status,
            f'{{"error":"bad key {SECRET}","msg":"bad key {SECRET}",'
            f'"code":"x","status":"fail","message":"key {SECRET}"}}',
        )

    return {
        "rate-limited": echo(429),
        "server-error": echo(500),
        "unauthorized": echo(401),
        "bad-request": echo(400),
        "fail-200": echo(200),
        "not-json": lambda request: httpx.Response(200, text=f"<html>{SECRET}</html>"),
        "timeout": hang,
        "refused": refuse,
    }


@pytest.mark.parametrize("venue", sorted(KEYED_CLIENTS))
@pytest.mark.parametrize("scenario", sorted(_leak_scenarios()))
async def test_api_key_never_appears_in_errors_logs_or_reprs(
    http_factory: HttpFactory, caplog: pytest.LogCaptureFixture, venue: str, scenario: str
) -> None:
    """Whatever goes wrong, the key is in no exception text, repr, context, traceback or log."""
    sent: list[str] = []
    handler = _leak_scenarios()[scenario]

    async def recording(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("x-api-key") or request.headers.get("authorization", ""))
        answer = handler(request)
        return await answer if asyncio.iscoroutine(answer) else answer

    client = KEYED_CLIENTS[venue](http_factory(recording))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SolbotError) as caught:
        await client.quote(REQUEST, 0.1)

    exc = caught.value
    assert sent == [SECRET]  # the key was really sent
    rendered = [
        str(exc),
        repr(exc),
        exc.message,
        repr(exc.context),
        "".join(traceback.format_exception(exc)),
        repr(client),
        caplog.text,
    ]
    assert not any(SECRET in text for text in rendered)


def test_settings_repr_and_client_repr_hide_the_key(http_factory: HttpFactory) -> None:
    """repr of a configured client shows that a key is set, never the key."""
    for make in KEYED_CLIENTS.values():
        text = repr(make(http_factory(lambda r: json_response(200, "{}"))))
        assert SECRET not in text
        assert "**********" in text


@pytest.mark.parametrize("venue", sorted(ALL_CLIENTS))
async def test_each_venue_names_itself_in_its_errors(http_factory: HttpFactory, venue: str) -> None:
    """Every UpstreamError carries source=<the venue>, for breakers and metrics."""
    client = ALL_CLIENTS[venue](http_factory(lambda r: httpx.Response(503, text="down")))
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.quote(REQUEST, 1.0)

    assert caught.value.source == venue == client.name


def test_build_http_client_has_explicit_timeouts_and_ignores_the_environment() -> None:
    """The shared client bounds every phase, never follows redirects, reads no proxy env."""
    settings = load_settings(quote_deadline_ms=1500)
    client = build_http_client(settings, max_connections=7)

    assert client.timeout == httpx.Timeout(1.5, connect=1.5)
    assert client.trust_env is False
    assert client.follow_redirects is False
    assert client.headers["user-agent"].startswith("solbot/")


async def test_build_http_client_is_an_async_resource() -> None:
    """The caller closes the shared client; it works as an async context manager."""

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, "{}")

    async with build_http_client(load_settings(), transport=httpx.MockTransport(handler)) as http:
        assert (await http.get("https://x.test/")).status_code == 200
    assert http.is_closed


NOW = 1_718_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-reset": "1718000042"}, 42.0),
        ({"x-ratelimit-reset": "1717999990"}, 0.0),  # already past: go now
        ({"x-ratelimit-reset": "30"}, 30.0),  # a small value is seconds, not a time
        ({"retry-after": "7"}, 7.0),
        (
            {"retry-after": format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)},
            90.0,
        ),
        ({"x-ratelimit-reset": "soon", "retry-after": "5"}, 5.0),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_both_hints(headers: dict[str, str], expected: float | None) -> None:
    """x-ratelimit-reset (unix s) first, then Retry-After (seconds or an HTTP date)."""
    result = retry_after_s(httpx.Headers(headers), NOW)
    assert result == (pytest.approx(expected) if expected is not None else None)


async def test_rejected_answers_are_not_retryable(http_factory: HttpFactory) -> None:
    """Malformed answers are UpstreamRejected, a different branch from UpstreamUnavailable."""
    client = JupiterClient(
        http_factory(lambda r: json_response(200, "{")), "https://j.test/swap/v1"
    )
    with pytest.raises(UpstreamRejected) as caught:
        await client.quote(REQUEST, 1.0)

    assert not isinstance(caught.value, UpstreamUnavailable)


def test_json_bodies_keep_every_digit_of_long_integers() -> None:
    """The fast parser turns integers past 64 bits into floats; such bodies take the exact one."""
    venue = VenueHttp(HandlerSession(lambda r: json_response(200, "{}")), source="jupiter")

    def answer(body: bytes) -> VenueAnswer:
        return VenueAnswer(200, {}, body)

    exact = venue.json(answer(b'{"a": 123456789012345678901234567890, "b": "x", "c": 0.1}'))
    assert exact == {"a": 123456789012345678901234567890, "b": "x", "c": 0.1}
    assert venue.json(answer(b'{"a": 18446744073709551615}')) == {"a": 18446744073709551615}
    assert venue.json(answer(b"[1,\n -123456789012345678901]")) == [1, -123456789012345678901]
    assert venue.json(answer(b" 123456789012345678901")) == 123456789012345678901
    assert venue.json(answer(b"[[123456789012345678901]]")) == [[123456789012345678901]]
    assert venue.json(answer(b'{"a":\r\n\t123456789012345678901}')) == {"a": 123456789012345678901}
    with pytest.raises(UpstreamRejected):
        venue.json(answer(b"{not json"))


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.integers(min_value=2**64, max_value=2**100)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="So12:[, 9")
    | st.sampled_from(["So11111111111111111111111111111111111111112", "a:12345678901234567890"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=_JSON_VALUES, indent=st.sampled_from([None, 1]))
def test_json_bodies_parse_as_the_exact_parser_does(value: object, indent: int | None) -> None:
    """Whatever the digits, in numbers or in strings, the fast path never loses one."""
    body = json.dumps(value, indent=indent).encode()

    # repr, not ==: 2**64 == float(2**64) in Python, and a float is exactly the loss to catch.
    assert repr(VenueAnswer(200, {}, body).json()) == repr(json.loads(body))


async def test_request_bodies_are_compact_json_that_keeps_every_digit() -> None:
    """What a venue sent us (Jupiter's quote, posted back to /swap) goes back number for number."""
    seen: list[bytes] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return json_response(200, "{}")

    venue = VenueHttp(HandlerSession(record), source="jupiter")
    body = {"a": 18446744073709551615, "b": 0.1, "c": "x", "d": [1, None, True]}
    await venue.send("POST", "https://j.test/swap", timeout_s=1.0, json_body=body)
    await venue.send("POST", "https://j.test/swap", timeout_s=1.0, json_body={"big": 2**70})

    assert seen[0] == b'{"a":18446744073709551615,"b":0.1,"c":"x","d":[1,null,true]}'
    assert json.loads(seen[1]) == {"big": 2**70}
