"""The production venue session over real sockets: answers, timeouts and broken peers as the
venue adapters see them (through `VenueHttp`), against small servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from solbot.config import load_settings
from solbot.errors import UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from solbot.resilience import Deadline, RetryPolicy, call_with_retries
from solbot.venues import AiohttpVenueSession, build_venue_session
from solbot.venues._http import VenueHttp

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(serve: Serve) -> AsyncIterator[str]:
    """A raw TCP server on an ephemeral loopback port; yields its base URL."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answer(status: str, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


@pytest.fixture
async def session() -> AsyncIterator[AiohttpVenueSession]:
    async with build_venue_session(load_settings()) as venue_session:
        yield venue_session


async def test_an_answer_arrives_whole_with_its_query_and_headers(
    session: AiohttpVenueSession,
) -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(answer("200 OK", b'{"ok":true}', "X-RateLimit-Reset: 17"))
        await writer.drain()
        writer.close()

    async with serving(serve) as url:
        venue = VenueHttp(session, source="jupiter")
        response = await venue.send(
            "GET", f"{url}/quote", params=[("ids[]", "a"), ("ids[]", "b")], timeout_s=1.0
        )

    assert response.status_code == 200
    assert venue.json(response) == {"ok": True}
    assert response.headers.get("x-ratelimit-reset") == "17"  # looked up case-insensitively
    request_line = seen[0].split(b"\r\n")[0]
    assert request_line == b"GET /quote?ids%5B%5D=a&ids%5B%5D=b HTTP/1.1"
    assert b"user-agent: solbot/" in seen[0].lower()


async def test_a_hung_venue_times_out_at_the_callers_timeout(
    session: AiohttpVenueSession,
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(serve) as url:
        started = time.perf_counter()
        with pytest.raises(UpstreamTimeout):
            await VenueHttp(session, source="dflow").send("GET", url, timeout_s=0.2)
        assert time.perf_counter() - started < 1.0


async def test_a_hung_venue_inside_a_retry_attempt_is_aborted_at_the_attempts_timeout(
    session: AiohttpVenueSession,
) -> None:
    """Inside an attempt aiohttp keeps no total timer of its own: the attempt's timeout aborts
    the request (its connection is not left waiting) and reads as an UpstreamTimeout."""
    arrived = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        await read_request(reader)
        arrived += 1
        await asyncio.sleep(5)

    async with serving(serve) as url:
        venue = VenueHttp(session, source="jupiter")

        async def attempt(timeout_s: float) -> object:
            return await venue.send("GET", url, timeout_s=timeout_s)

        started = time.perf_counter()
        with pytest.raises(UpstreamTimeout):
            await call_with_retries(
                attempt, Deadline.after(5.0), RetryPolicy(max_attempts=1), attempt_timeout_cap_s=0.2
            )
        assert time.perf_counter() - started < 1.0
    assert arrived == 1


async def test_a_timeout_of_five_seconds_or_more_is_kept_to_exactly(
    session: AiohttpVenueSession,
) -> None:
    """aiohttp rounds timeouts of 5 s and more up to a whole second of loop time by default;
    the budget is chosen to end half-way through a second, where rounding would add ~0.5 s."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async with serving(serve) as url:
        now = asyncio.get_running_loop().time()
        timeout_s = 5.0 + (0.5 - now % 1.0) % 1.0
        started = time.perf_counter()
        with pytest.raises(UpstreamTimeout):
            await VenueHttp(session, source="jupiter").send("GET", url, timeout_s=timeout_s)
        elapsed = time.perf_counter() - started
    assert timeout_s - 0.05 < elapsed < timeout_s + 0.3


async def test_a_trickling_body_is_aborted_at_the_callers_timeout(
    session: AiohttpVenueSession,
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        for _ in range(100):
            writer.write(b"{")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with serving(serve) as url:
        started = time.perf_counter()
        with pytest.raises(UpstreamTimeout):
            await VenueHttp(session, source="hashflow").send("GET", url, timeout_s=0.3)
        assert time.perf_counter() - started < 1.0


async def test_a_refused_connection_is_unavailable_and_names_no_request(
    session: AiohttpVenueSession,
) -> None:
    async with serving(lambda reader, writer: asyncio.sleep(0)) as url:
        pass  # the port is free again: connecting is refused
    with pytest.raises(UpstreamUnavailable) as caught:
        await VenueHttp(session, source="jupiter").send("GET", url, timeout_s=1.0)
    assert caught.value.__cause__ is None
    assert "is unreachable (Client" in caught.value.message


async def test_a_peer_that_hangs_up_mid_answer_is_unavailable_or_malformed(
    session: AiohttpVenueSession,
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()

    async with serving(serve) as url:
        with pytest.raises((UpstreamUnavailable, UpstreamRejected)):
            await VenueHttp(session, source="pyth").send("GET", url, timeout_s=1.0)


async def test_redirects_are_answers_not_followed_and_cookies_are_not_kept(
    session: AiohttpVenueSession,
) -> None:
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                requests.append(await read_request(reader))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(
                answer("302 Found", b"", "location: http://example.invalid/", "set-cookie: s=1")
            )
            await writer.drain()

    async with serving(serve) as url:
        venue = VenueHttp(session, source="jupiter")
        first = await venue.send("GET", url, timeout_s=1.0)
        await venue.send("GET", url, timeout_s=1.0)

    assert first.status_code == 302
    assert len(requests) == 2
    assert b"cookie" not in requests[1].lower()


async def test_the_session_closes_and_can_be_closed_twice() -> None:
    venue_session = AiohttpVenueSession()
    async with serving(
        lambda reader, writer: _answer_once(reader, writer, answer("200 OK", b"{}"))
    ) as url:
        await VenueHttp(venue_session, source="jupiter").send("GET", url, timeout_s=1.0)
    await venue_session.aclose()
    await venue_session.aclose()


async def _answer_once(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes
) -> None:
    await read_request(reader)
    writer.write(response)
    await writer.drain()
    writer.close()
