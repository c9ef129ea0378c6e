"""The HTTP shell every venue adapter shares: one attempt, its timeout, and the error mapping.

Each call is bounded twice: httpx's own `Timeout` (connect, read, write, pool) and an overall
`asyncio.timeout`, because httpx's read timeout is per chunk and a server that trickles bytes
would otherwise hold the call past its budget. Retries, breakers and hedging live above this
layer: an adapter makes exactly one attempt.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import SecretStr

from solbot import __version__
from solbot.config import Settings
from solbot.errors import RateLimited, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from solbot.resilience import retry_after_from_headers
from solbot.venues._parse import Malformed

__all__ = ["Clock", "VenueHttp", "build_http_client", "retry_after_s"]

Clock = Callable[[], float]

# Past this a venue's message is noise in an exception; the body is never needed whole.
_MAX_MESSAGE_CHARS = 200


def build_http_client(
    settings: Settings,
    *,
    max_connections: int = 100,
    max_keepalive_connections: int = 20,
    keepalive_expiry_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one outbound HTTP client the venue adapters share, with explicit pool and timeouts.

    The default timeout is the quote deadline (each adapter call passes its own, shorter one).
    `trust_env=False`: Settings is the only reader of the environment, so no proxy variable
    silently reroutes venue traffic. The caller owns the client and closes it (`aclose`).
    """
    deadline_s = settings.quote_deadline_ms / 1000
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=keepalive_expiry_s,
    )
    if transport is None:
        # httpx's API over aiohttp's connection handling: the same client code, about a third
        # of the per-request CPU of httpcore's anyio path (measured in bench/RESULTS-quotes.md).
        transport = AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(deadline_s, connect=min(deadline_s, 2.0)),
        limits=limits,
        headers={"user-agent": f"solbot/{__version__}"},
        follow_redirects=False,
        trust_env=False,
        transport=transport,
    )


def retry_after_s(headers: httpx.Headers, now_s: float) -> float | None:
    """Seconds until a rate-limited venue takes requests again, if it says.

    Jupiter sends `x-ratelimit-reset` as unix seconds; others send the standard `Retry-After`
    (seconds or an HTTP date).
    """
    return retry_after_from_headers(headers, now_unix=now_s)


class VenueHttp:
    """One venue's view of the shared client: its name, its credential header, its clock."""

    def __init__(
        self,
        http: httpx.AsyncClient,
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
        params: Any = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One request, aborted at `timeout_s`; transport failures mapped onto solbot.errors."""
        if not timeout_s > 0 or not math.isfinite(timeout_s):
            raise ValueError("timeout_s must be a positive number of seconds")
        headers = {"accept": "application/json"}
        if self._api_key is not None:
            headers[self._api_key_header] = self._api_key.get_secret_value()
        content: bytes | None = None
        if json_body is not None:
            # The stdlib encoder: it round-trips every JSON number the venue sent us.
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        try:
            async with asyncio.timeout(timeout_s):
                return await self._http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    headers=headers,
                    timeout=httpx.Timeout(timeout_s),
                )
        except (TimeoutError, httpx.TimeoutException):
            # `from None`: the httpx exception holds the request, and the request our key.
            raise UpstreamTimeout(
                f"{self.source} did not answer within {timeout_s:.3f} s",
                source=self.source,
                timeout_s=timeout_s,
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"{self.source} is unreachable ({type(exc).__name__})", source=self.source
            ) from None
        except httpx.DecodingError:
            raise self.malformed("an undecodable body") from None

    def json(self, response: httpx.Response) -> Any:
        """The body as JSON; a body that is not JSON is a malformed answer."""
        try:
            return json.loads(response.content)
        except ValueError:
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

    def rate_limited(self, response: httpx.Response, message: str | None = None) -> RateLimited:
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
        self, response: httpx.Response, message: str | None = None, venue_code: str | None = None
    ) -> UpstreamUnavailable | UpstreamRejected:
        """The generic meaning of a non-2xx status, for answers no venue rule recognised."""
        status = response.status_code
        text = f": {self.redact(message)}" if message else ""
        context: dict[str, Any] = {"status": status}
        if venue_code is not None:
            context["venue_code"] = self.redact(venue_code)
        if status == httpx.codes.TOO_MANY_REQUESTS:
            return self.rate_limited(response, message)
        if status >= httpx.codes.INTERNAL_SERVER_ERROR:
            return UpstreamUnavailable(
                f"{self.source} failed with HTTP {status}{text}", source=self.source, **context
            )
        if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
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
