"""The HTTP shell every venue adapter shares: one attempt, its timeout, and the error mapping.

Venue calls go through a `VenueSession` (a port): in production `AiohttpVenueSession`, aiohttp's
client used directly. It was httpx over httpx-aiohttp's transport; a profile of `/v1/quote` under
load put about a quarter of the bot's CPU in httpx's own layer (request and URL models, cookie
extraction, response streaming) on top of the aiohttp work underneath, so the hot path skips it.
httpx stays for the JSON-RPC client and the SSE price stream (`build_http_client`).

Each call is bounded by the session, over the whole exchange (aiohttp's `total`, not a per-read
timeout that a server trickling bytes could stretch), to the exact `timeout_s`. Quote attempts are
also guarded above this layer by the retry's per-attempt timeout. Retries, breakers and hedging
live above this layer: an adapter makes exactly one attempt.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport
from pydantic import SecretStr

from solbot import __version__
from solbot.config import Settings
from solbot.errors import RateLimited, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from solbot.resilience import inside_attempt_timeout, retry_after_from_headers
from solbot.venues._parse import Malformed

__all__ = [
    "AiohttpVenueSession",
    "Clock",
    "QueryParams",
    "VenueAnswer",
    "VenueHttp",
    "VenueSession",
    "VenueTransportError",
    "build_http_client",
    "build_venue_session",
    "retry_after_s",
]

Clock = Callable[[], float]
QueryParams = Mapping[str, str] | Sequence[tuple[str, str]]  # pairs when a key repeats

# For `_has_long_number`: digits become "0", what a number token follows (`:`, `[`, `,`, `-`)
# becomes ":", whitespace goes; a number of 19+ digits is then ":" and nineteen "0"s. In C, so
# about a microsecond for a quote, where a regular expression scan took over ten.
_NUMBER_SHAPE = bytes.maketrans(b"0123456789[,-", b"0000000000:::")
_JSON_SPACE = b" \t\r\n"
_LONG_RUN = b"0" * 19


def _has_long_number(body: bytes) -> bool:
    """Whether `body` holds a JSON number of 19+ digits. Digits inside strings (the wrapped SOL
    mint "So111...112") follow a letter or a quote and do not count; a string such as ": 123..."
    does, which only costs the slower, exact parse."""
    shape = body.translate(_NUMBER_SHAPE, _JSON_SPACE)
    return shape.startswith(_LONG_RUN) or shape.find(b":" + _LONG_RUN) >= 0


# Past this a venue's message is noise in an exception; the body is never needed whole.
_MAX_MESSAGE_CHARS = 200


@dataclass(frozen=True, slots=True)
class VenueAnswer:
    """A venue's whole answer: status, headers (looked up case-insensitively), body bytes."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not JSON).

        orjson, as this is the quote hot path; but orjson silently turns integers past 64 bits
        into floats, so a body with a number of 19+ digits goes to the stdlib, which keeps every
        digit."""
        if not _has_long_number(self.content):
            return orjson.loads(self.content)
        return json.loads(self.content)


def _encode_json(body: Mapping[str, Any]) -> bytes:
    """A request body as compact JSON: orjson, or the stdlib for what orjson refuses (integers
    past 64 bits). Both write every number the venue sent us back as it was (shortest
    round-trip floats, exact integers)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode()


class VenueTransportError(Exception):
    """No answer came back: refused, reset, a broken or undecodable response. `kind` names the
    failure (a class name, never the request: a request can hold our API key)."""

    def __init__(self, kind: str, *, decoding: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.decoding = decoding


class VenueSession(Protocol):
    """The port venue adapters send through: one request, one whole answer, or an exception
    (`TimeoutError` past `timeout_s`, `VenueTransportError` when no answer came back)."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams | None,
        content: bytes | None,
        headers: Mapping[str, str],
        timeout_s: float,
    ) -> VenueAnswer: ...

    async def aclose(self) -> None: ...


class AiohttpVenueSession:
    """`VenueSession` over one aiohttp `ClientSession` with an explicit pool.

    No cookie jar (venues are called with keys, not sessions), no proxy variables from the
    environment (Settings is the only reader of the environment), no redirects followed.
    """

    def __init__(
        self,
        *,
        max_connections: int = 400,
        keepalive_s: float = 30.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created at first use: an aiohttp session belongs to the loop it was made on.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    keepalive_timeout=self._keepalive_s,
                    ttl_dns_cache=60,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": f"solbot/{__version__}"},
                trust_env=False,
            )
        return self._session

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
        # ceil_threshold=inf: aiohttp rounds timeouts of 5 s and more up to the next whole second
        # by default; the caller's budget is exact. Inside a retry attempt, which is aborted at
        # this same timeout, aiohttp's total timer would be a second one (~5 us a request).
        timeout = aiohttp.ClientTimeout(
            total=None if inside_attempt_timeout() else timeout_s,
            connect=min(timeout_s, self._connect_timeout_s),
            ceil_threshold=math.inf,
        )
        try:
            async with self._open().request(
                method,
                url,
                params=params,
                data=content,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return VenueAnswer(response.status, response.headers, body)
        except aiohttp.ClientPayloadError as exc:
            raise VenueTransportError(type(exc).__name__, decoding=True) from None
        except aiohttp.ClientError as exc:
            # aiohttp's own timeouts are TimeoutErrors too: they pass through untouched.
            raise VenueTransportError(type(exc).__name__) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AiohttpVenueSession:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


def build_venue_session(settings: Settings, *, max_connections: int = 400) -> AiohttpVenueSession:
    """The one session the venue adapters share; the caller owns it and closes it (`aclose`)."""
    deadline_s = settings.quote_deadline_ms / 1000
    return AiohttpVenueSession(
        max_connections=max_connections, connect_timeout_s=min(deadline_s, 2.0)
    )


def build_http_client(
    settings: Settings,
    *,
    max_connections: int = 100,
    max_keepalive_connections: int = 20,
    keepalive_expiry_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The httpx client for JSON-RPC and the SSE price stream, with explicit pool and timeouts.

    The default timeout is the quote deadline (each call passes its own, shorter one).
    `trust_env=False`: Settings is the only reader of the environment, so no proxy variable
    silently reroutes traffic. The caller owns the client and closes it (`aclose`).
    """
    deadline_s = settings.quote_deadline_ms / 1000
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=keepalive_expiry_s,
    )
    if transport is None:
        # httpx's API over aiohttp's connection handling: about a third of the per-request CPU
        # of httpcore's anyio path.
        transport = AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(deadline_s, connect=min(deadline_s, 2.0)),
        limits=limits,
        headers={"user-agent": f"solbot/{__version__}"},
        follow_redirects=False,
        trust_env=False,
        transport=transport,
    )


def retry_after_s(headers: Mapping[str, str], now_s: float) -> float | None:
    """Seconds until a rate-limited venue takes requests again, if it says.

    Jupiter sends `x-ratelimit-reset` as unix seconds; others send the standard `Retry-After`
    (seconds or an HTTP date).
    """
    return retry_after_from_headers(headers, now_unix=now_s)


class VenueHttp:
    """One venue's view of the shared client: its name, its credential header, its clock."""

    def __init__(
        self,
        http: VenueSession,
        *,
        source: str,
        api_key: SecretStr | None = None,
        api_key_header: str = "x-api-key",
        clock: Clock = time.time,
        default_retry_after_s: float | None = None,
    ) -> None:
        self._http = http
        self.source = source
        self._api_key = api_key
        self._api_key_header = api_key_header
        self.clock = clock
        self._default_retry_after_s = default_retry_after_s

    def __repr__(self) -> str:
        key = "'**********'" if self._api_key is not None else "None"
        return f"VenueHttp(source={self.source!r}, api_key={key})"

    async def send(
        self,
        method: str,
        url: str,
        *,
        timeout_s: float,
        params: QueryParams | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> VenueAnswer:
        """One request, aborted at `timeout_s` (by the session, whose contract that is: no second
        timer here); transport failures mapped onto solbot.errors."""
        if not timeout_s > 0 or not math.isfinite(timeout_s):
            raise ValueError("timeout_s must be a positive number of seconds")
        headers = {"accept": "application/json"}
        if self._api_key is not None:
            headers[self._api_key_header] = self._api_key.get_secret_value()
        content: bytes | None = None
        if json_body is not None:
            content = _encode_json(json_body)
            headers["content-type"] = "application/json"
        try:
            return await self._http.request(
                method, url, params=params, content=content, headers=headers, timeout_s=timeout_s
            )
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.source} did not answer within {timeout_s:.3f} s",
                source=self.source,
                timeout_s=timeout_s,
            ) from None
        except VenueTransportError as exc:
            if exc.decoding:
                raise self.malformed("an undecodable body") from None
            raise UpstreamUnavailable(
                f"{self.source} is unreachable ({exc.kind})", source=self.source
            ) from None

    def json(self, response: VenueAnswer) -> Any:
        """The body as JSON; a body that is not JSON is a malformed answer."""
        try:
            return response.json()
        except ValueError:  # orjson.JSONDecodeError is a ValueError too
            raise self.malformed("a body that is not JSON") from None

    def malformed(self, what: str | Malformed) -> UpstreamRejected:
        return UpstreamRejected(
            f"{self.source} answered {what}"
            if isinstance(what, str)
            else f"{self.source} answered an unexpected shape: {what}",
            source=self.source,
            code="MALFORMED_RESPONSE",
        )

    def redact(self, text: str) -> str:
        """A venue's message, shortened, with our key cut out should the venue echo it."""
        if self._api_key is not None:
            secret = self._api_key.get_secret_value()
            if secret:
                text = text.replace(secret, "[redacted]")
        return text[:_MAX_MESSAGE_CHARS]

    def rate_limited(self, response: VenueAnswer, message: str | None = None) -> RateLimited:
        wait = retry_after_s(response.headers, self.clock())
        if wait is None:
            wait = self._default_retry_after_s
        text = f": {self.redact(message)}" if message else ""
        return RateLimited(
            f"{self.source} rate-limited us{text}",
            source=self.source,
            retry_after_s=wait,
            status=response.status_code,
        )

    def status_error(
        self, response: VenueAnswer, message: str | None = None, venue_code: str | None = None
    ) -> UpstreamUnavailable | UpstreamRejected:
        """The generic meaning of a non-2xx status, for answers no venue rule recognised."""
        status = response.status_code
        text = f": {self.redact(message)}" if message else ""
        context: dict[str, Any] = {"status": status}
        if venue_code is not None:
            context["venue_code"] = self.redact(venue_code)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            return self.rate_limited(response, message)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return UpstreamUnavailable(
                f"{self.source} failed with HTTP {status}{text}", source=self.source, **context
            )
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            return UpstreamRejected(
                f"{self.source} refused our credentials (HTTP {status}){text}",
                source=self.source,
                code="UPSTREAM_UNAUTHORIZED",
                **context,
            )
        return UpstreamRejected(
            f"{self.source} rejected the request with HTTP {status}{text}",
            source=self.source,
            **context,
        )
