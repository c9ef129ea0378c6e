"""A simnet chain node (RPC + PubSub) on ephemeral ports for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .support import Node, running_node


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async for running in running_node():
        yield running
