"""Authentication of API callers, and their custodial wallets (`/v1/wallets`)."""

# No `from __future__ import annotations` here: FastAPI must evaluate `Depends(current_user)`
# in each route signature, and `current_user` is a local of the router factory.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from solbot.api._json import JSONBytes
from solbot.auth import AuthService, User
from solbot.keystore import Wallet, WalletService

__all__ = ["accounts_router", "current_user_dependency", "wallet_json"]


def current_user_dependency(auth: AuthService) -> Callable[..., Awaitable[User]]:
    """A FastAPI dependency: the caller named by `Authorization: Bearer <token>`, else 401."""

    async def current_user(
        authorization: Annotated[str | None, Header(description="Bearer <API token>")] = None,
    ) -> User:
        return await auth.user_for_authorization_header(authorization)

    return current_user


def wallet_json(wallet: Wallet) -> dict[str, Any]:
    return {
        "wallet": wallet.pubkey,
        "keyVersion": wallet.key_version,
        "createdAt": wallet.created_at.isoformat().replace("+00:00", "Z"),
    }


def accounts_router(auth: AuthService, wallets: WalletService) -> APIRouter:
    router = APIRouter(tags=["wallets"])
    current_user = current_user_dependency(auth)

    @router.post("/v1/wallets", status_code=201)
    async def create_wallet(user: Annotated[User, Depends(current_user)]) -> Response:
        """Create a custodial wallet for the caller; its private key never leaves the bot."""
        wallet = await wallets.create_wallet(user.id)
        return JSONBytes(wallet_json(wallet), status_code=201)

    @router.get("/v1/wallets")
    async def list_wallets(user: Annotated[User, Depends(current_user)]) -> Response:
        """The caller's custodial wallets."""
        return JSONBytes({"wallets": [wallet_json(w) for w in await wallets.list_wallets(user.id)]})

    return router
