"""`@cached(key="portfolio:{wallet}", tags=["wallet:{wallet}"], ttl=30, grace=300)`.

Key and tag templates are `str.format` templates over the function's arguments (by name,
defaults applied), checked when the function is decorated, so a typo fails at import, not at
the first request. The cache is the decorated method's `self.cache` by default (services get
theirs from the composition root), or a `Cache` passed as `cache=`.
"""

from __future__ import annotations

import functools
import inspect
import string
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar, overload

from solbot.cache._cache import Cache, Codec

__all__ = ["cached"]

P = ParamSpec("P")
T = TypeVar("T")


def _fields(template: str) -> set[str]:
    names = set()
    for _literal, field, _spec, _conversion in string.Formatter().parse(template):
        if field is not None:
            if field == "" or field.isdigit():
                raise ValueError(f"cache template {template!r}: name every field")
            names.add(field.split(".", 1)[0].split("[", 1)[0])
    return names


@overload
def cached(
    key: str,
    *,
    tags: Sequence[str] = (),
    ttl: float | None = None,
    grace: float | None = None,
    l1_ttl: float | None = None,
    version: int = 1,
    soft_timeout: float | None = None,
    hard_timeout: float | None = None,
    early_refresh_beta: float | None = None,
    codec: None = None,
    cache: Cache | str = "cache",
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]: ...


@overload
def cached(
    key: str,
    *,
    tags: Sequence[str] = (),
    ttl: float | None = None,
    grace: float | None = None,
    l1_ttl: float | None = None,
    version: int = 1,
    soft_timeout: float | None = None,
    hard_timeout: float | None = None,
    early_refresh_beta: float | None = None,
    codec: Codec[T],
    cache: Cache | str = "cache",
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]: ...


def cached(
    key: str,
    *,
    tags: Sequence[str] = (),
    ttl: float | None = None,
    grace: float | None = None,
    l1_ttl: float | None = None,
    version: int = 1,
    soft_timeout: float | None = None,
    hard_timeout: float | None = None,
    early_refresh_beta: float | None = None,
    codec: Codec[T] | None = None,
    cache: Cache | str = "cache",
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Cache an async function's result under `key`, tagged with `tags`.

    `cache` is a `Cache`, or the name of the attribute holding one on the first argument
    (`self`). Bump `version` when the returned value's shape changes.
    """

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        signature = inspect.signature(fn)
        known = set(signature.parameters)
        for template in (key, *tags):
            unknown = _fields(template) - known
            if unknown:
                raise ValueError(
                    f"cache template {template!r} names {sorted(unknown)}, which "
                    f"{fn.__qualname__} does not take"
                )
        first_param = next(iter(signature.parameters), None)
        if isinstance(cache, str) and first_param is None:
            raise ValueError(f"{fn.__qualname__}: pass cache= to cache a plain function")

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments: dict[str, Any] = bound.arguments
            target = cache
            if isinstance(target, str):
                target = getattr(arguments[first_param], target)  # type: ignore[index]
                if not isinstance(target, Cache):
                    raise TypeError(f"{fn.__qualname__}: self.{cache} is not a Cache")
            return await target.get_or_set(
                key.format_map(arguments),
                lambda: fn(*args, **kwargs),
                tags=[tag.format_map(arguments) for tag in tags],
                ttl=ttl,
                grace=grace,
                l1_ttl=l1_ttl,
                version=version,
                soft_timeout=soft_timeout,
                hard_timeout=hard_timeout,
                early_refresh_beta=early_refresh_beta,
                codec=codec,
            )

        return wrapper

    return decorate
