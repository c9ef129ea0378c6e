"""WebSocket frames built once and written as-is to every subscriber's transport (RFC 6455 §5.2).

A server never masks its frames, so a text frame is the same bytes for every client: encoding it
once per message instead of once per delivery is what makes a 10,000-way fan-out cheap.
"""

from __future__ import annotations

import struct

__all__ = ["text_frame"]

_FIN_TEXT = 0x81
_LEN_16 = 126
_LEN_64 = 127


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, final text frame carrying `payload` (UTF-8 JSON)."""
    size = len(payload)
    if size < _LEN_16:
        return bytes((_FIN_TEXT, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", _FIN_TEXT, _LEN_16, size) + payload
    return struct.pack("!BBQ", _FIN_TEXT, _LEN_64, size) + payload
