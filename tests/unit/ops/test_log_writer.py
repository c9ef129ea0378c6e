"""The server's log writer: info lines buffered, flushed within the interval; warnings at once."""

from __future__ import annotations

import time
from pathlib import Path

from solbot.ops._logging import _LineWriter


def _writer(path: Path, flush_every_s: float) -> _LineWriter:
    # Unbuffered, as `sys.stderr.buffer` is: the writer brings its own buffer.
    return _LineWriter(path.open("wb", buffering=0), flush_every_s)


def test_info_lines_are_buffered_and_reach_the_file_within_the_flush_interval(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    writer = _writer(log, flush_every_s=0.05)
    for i in range(100):
        writer.info(f'{{"n":{i}}}'.encode())
    written_at_once = log.read_bytes()
    waited_until = time.monotonic() + 5.0
    while log.read_bytes().count(b"\n") < 100 and time.monotonic() < waited_until:
        time.sleep(0.01)
    assert written_at_once.count(b"\n") < 100  # not one write per line
    assert log.read_bytes().splitlines() == [f'{{"n":{i}}}'.encode() for i in range(100)]


def test_a_warning_is_written_at_once_with_the_info_lines_before_it_in_order(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    writer = _writer(log, flush_every_s=3600.0)
    writer.info(b'{"event":"first"}')
    writer.debug(b'{"event":"second"}')
    assert log.read_bytes() == b""
    writer.warning(b'{"event":"trouble"}')
    assert log.read_bytes() == b'{"event":"first"}\n{"event":"second"}\n{"event":"trouble"}\n'
    writer.error(b'{"event":"worse"}')
    assert log.read_bytes().endswith(b'{"event":"worse"}\n')


def test_flushing_a_closed_stream_is_quiet(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "log", flush_every_s=3600.0)
    writer.info(b"{}")
    writer._stream.close()
    writer.flush()  # at exit the stream may already be gone: no exception
