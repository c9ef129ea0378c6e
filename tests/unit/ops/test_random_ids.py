"""Ids drawn from a pool of the OS's random bytes: right shape, never repeated, not shared by
a forked child."""

from __future__ import annotations

import os
import re

from solbot._random import token_hex, token_urlsafe


def test_ids_have_the_shape_of_the_secrets_modules() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", token_hex(16))
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token_urlsafe(16))


def test_ids_do_not_repeat_across_many_pool_refills() -> None:
    drawn = [token_hex(16) for _ in range(5_000)]  # 80 KB: the 4 KiB pool refills ~20 times
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    token_hex(16)  # the parent's pool now holds unused bytes a child must not reuse
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write_end, token_hex(16).encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_id) == 32
    assert child_id != token_hex(16)
