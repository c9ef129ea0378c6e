"""One typed, frozen Settings object, loaded once at the edge (env prefix SOLBOT_).

Nothing else in solbot reads os.environ. Secrets are `SecretStr`, so they never show in a repr.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from solbot.errors import ConfigError

__all__ = ["Settings", "SimnetSettings", "load_settings", "load_simnet_settings", "simnet_urls"]


_S = TypeVar("_S", bound=BaseSettings)


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Everything the bot can be told, with the defaults of CONTRACT.md."""

    model_config = SettingsConfigDict(env_prefix="SOLBOT_", frozen=True, extra="ignore")

    jupiter_url: str = "https://api.jup.ag/swap/v1"
    jupiter_price_url: str = "https://api.jup.ag/price/v3"
    dflow_url: str = "https://quote-api.dflow.net"
    hashflow_url: str = "https://api.hashflow.com"
    pyth_url: str = "https://hermes.pyth.network"
    rpc_url: str = "https://api.mainnet-beta.solana.com"
    rpc_ws_url: str = "wss://api.mainnet-beta.solana.com"
    jupiter_api_key: SecretStr | None = None
    dflow_api_key: SecretStr | None = None
    hashflow_api_key: SecretStr | None = None
    redis_url: SecretStr | None = None
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///./solbot.db")
    quote_deadline_ms: Annotated[int, Field(ge=100, le=60_000)] = 2000
    # Each venue's plan, in requests per second; shared by all instances when Redis is set.
    jupiter_rps: Annotated[int, Field(ge=1, le=100_000)] = 10
    dflow_rps: Annotated[int, Field(ge=1, le=100_000)] = 20
    hashflow_rps: Annotated[int, Field(ge=1, le=100_000)] = 20
    pyth_rps: Annotated[int, Field(ge=1, le=100_000)] = 30
    redis_prefix: str = "solbot:"
    # Quotes computed at once before new ones are turned away (503 OVERLOADED, Retry-After):
    # past this, everyone would miss the deadline instead of a few being told to come back.
    quote_max_in_flight: Annotated[int, Field(ge=1, le=100_000)] = 256
    # How long a computed portfolio is served before it is computed again (a trade or a balance
    # change of the wallet invalidates it at once anyway).
    portfolio_ttl_s: Annotated[float, Field(gt=0, le=86_400)] = 15.0
    # Trades: how many run at once per instance (one per wallet at a time), how often the same
    # signed bytes are re-sent and the signature status polled, and how long one landing may
    # take before the trade is left open for the sweep to settle.
    trade_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 32
    trade_rebroadcast_ms: Annotated[int, Field(ge=50, le=60_000)] = 2000
    trade_poll_ms: Annotated[int, Field(ge=20, le=60_000)] = 500
    trade_max_landing_s: Annotated[float, Field(ge=1, le=3600)] = 150.0
    master_key: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    stream_port: Annotated[int, Field(ge=0, le=65535)] = 8001  # the /v1/stream gateway
    instance_id: str = Field(default_factory=_default_instance_id)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    simnet: bool = False  # set by `solbot up`: the upstreams are the embedded simnet
    simnet_data_dir: str = ".simnet"  # on the simnet, the generated master key is kept here

    @field_validator(
        "jupiter_url", "jupiter_price_url", "dflow_url", "hashflow_url", "pyth_url", "rpc_url"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("rpc_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL")
        return value.rstrip("/")


class SimnetSettings(BaseSettings):
    """How the embedded simnet behaves (env prefix SOLBOT_SIM_)."""

    model_config = SettingsConfigDict(env_prefix="SOLBOT_SIM_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    rpc_port: Annotated[int, Field(ge=0, le=65535)] = 8899
    ws_port: Annotated[int, Field(ge=0, le=65535)] = 8900
    venues_port: Annotated[int, Field(ge=0, le=65535)] = 8910
    slot_ms: Annotated[int, Field(ge=1, le=60_000)] = 400
    seed: int = 7
    background_trades_per_s: Annotated[float, Field(ge=0, le=1000)] = 2.0
    price_tick_ms: Annotated[int, Field(ge=10, le=60_000)] = 400
    data_dir: str = ".simnet"


def _load(cls: type[_S], **overrides: Any) -> _S:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        prefix = str(cls.model_config.get("env_prefix", ""))
        name = prefix + str(first["loc"][0]).upper() if first["loc"] else prefix
        raise ConfigError(f"invalid setting {name}: {first['msg']}", variable=name) from None


def load_settings(**overrides: Any) -> Settings:
    """Read Settings from the environment; one line naming the variable when one is invalid."""
    return _load(Settings, **overrides)


def load_simnet_settings(**overrides: Any) -> SimnetSettings:
    return _load(SimnetSettings, **overrides)


def simnet_urls(sim: SimnetSettings) -> dict[str, str]:
    """The upstream URLs of Settings that point the bot at a running simnet."""
    venues = f"http://{sim.host}:{sim.venues_port}"
    return {
        "jupiter_url": f"{venues}/jupiter/swap/v1",
        "jupiter_price_url": f"{venues}/jupiter/price/v3",
        "dflow_url": f"{venues}/dflow",
        "hashflow_url": f"{venues}/hashflow",
        "pyth_url": f"{venues}/pyth",
        "rpc_url": f"http://{sim.host}:{sim.rpc_port}",
        "rpc_ws_url": f"ws://{sim.host}:{sim.ws_port}",
    }
