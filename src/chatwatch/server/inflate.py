"""Bounded decompression of request bodies, in pieces.

One ``decompress(data, limit)`` call grows its output by reallocating, holding the GIL
for ~17 ms at a time on a 40 MB gzip bomb; the event loop (``/healthz``, every other
request) waits that long for it. In 1 MiB pieces no hold is longer than ~5 ms, and a body
over the limit stops being inflated as soon as it passes it.
"""

from __future__ import annotations

import zlib

__all__ = ["BadGzip", "TooLarge", "gunzip", "inflate"]

_PIECE = 1 << 20


class TooLarge(Exception):
    """The body inflates to more than the limit."""


class BadGzip(Exception):
    """The body is not valid gzip (the message says why)."""


def gunzip(data: bytes, limit: int) -> bytes:
    """A gzip body inflated, at most ``limit`` bytes: :class:`TooLarge` beyond,
    :class:`BadGzip` when it is not gzip. Plain exceptions, so they cross threads and
    processes."""
    try:
        return inflate(data, 16 + zlib.MAX_WBITS, limit)
    except zlib.error as exc:
        raise BadGzip(str(exc)) from None


def inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """``data`` decompressed (``wbits`` as for :func:`zlib.decompressobj`), at most
    ``limit`` bytes; :class:`TooLarge` beyond, :class:`zlib.error` when it is not valid."""
    decoder = zlib.decompressobj(wbits)
    pieces: list[bytes] = []
    size = 0
    pending = data
    while True:
        piece = decoder.decompress(pending, _PIECE)
        size += len(piece)
        if size > limit:
            raise TooLarge
        pieces.append(piece)
        pending = decoder.unconsumed_tail
        if decoder.eof or (not pending and len(piece) < _PIECE):
            return b"".join(pieces)
