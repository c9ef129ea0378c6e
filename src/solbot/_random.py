"""Unguessable ids without a system call each: the OS's random bytes drawn 4 KiB at a time.

`secrets.token_urlsafe` and `uuid.uuid4` read `os.urandom` on every call; a request id and a
quote id per quote made that a few microseconds of the hot path. The bytes are the same CSPRNG's,
only fetched in bulk; a forked child starts with an empty pool so no two processes share one.
"""

from __future__ import annotations

import base64
import os
import threading

__all__ = ["token_hex", "token_urlsafe"]

_POOL_BYTES = 4096


class _Pool:
    def __init__(self) -> None:
        self.buffer = b""
        self.offset = 0
        self.lock = threading.Lock()  # ids are drawn from worker threads too (the load rig)

    def take(self, nbytes: int) -> bytes:
        with self.lock:
            if self.offset + nbytes > len(self.buffer):
                self.buffer = os.urandom(max(_POOL_BYTES, nbytes))
                self.offset = 0
            start = self.offset
            self.offset = start + nbytes
            return self.buffer[start : start + nbytes]

    def reset(self) -> None:
        self.buffer = b""
        self.offset = 0
        self.lock = threading.Lock()  # a lock held at fork time stays held in the child


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.reset)


def token_hex(nbytes: int) -> str:
    """`nbytes` random bytes as lowercase hex (as `secrets.token_hex`)."""
    return _pool.take(nbytes).hex()


def token_urlsafe(nbytes: int) -> str:
    """`nbytes` random bytes as unpadded URL-safe base64 (as `secrets.token_urlsafe`)."""
    return base64.urlsafe_b64encode(_pool.take(nbytes)).rstrip(b"=").decode("ascii")
