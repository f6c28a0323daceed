"""Bounded decompression in pieces: the same bytes as zlib in one call, refusals alike."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from chatwatch.server.inflate import TooLarge, inflate

GZIP = 16 + zlib.MAX_WBITS


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7])
def test_inflates_what_zlib_inflates(size: int) -> None:
    raw = os.urandom(size // 2) + b"a" * (size - size // 2)
    assert inflate(gzip.compress(raw), GZIP, 4 << 20) == raw
    assert inflate(zlib.compress(raw), zlib.MAX_WBITS, 4 << 20) == raw


def test_the_limit_is_inclusive() -> None:
    raw = b"x" * 5_000_000
    assert inflate(gzip.compress(raw), GZIP, 5_000_000) == raw
    with pytest.raises(TooLarge):
        inflate(gzip.compress(raw), GZIP, 4_999_999)


def test_a_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * 200_000_000, 9)
    with pytest.raises(TooLarge):
        inflate(bomb, GZIP, 8 << 20)


def test_not_gzip_is_a_zlib_error() -> None:
    with pytest.raises(zlib.error):
        inflate(b"not gzip at all", GZIP, 1 << 20)


def test_data_after_the_stream_is_ignored_as_zlib_does() -> None:
    body = gzip.compress(b"hello") + b"trailing"
    assert inflate(body, GZIP, 1 << 20) == zlib.decompressobj(GZIP).decompress(body)
