"""One gzip member made of parts deflated apart, so a part can be kept.

Deflate data flushed with ``Z_SYNC_FLUSH`` ends on a byte boundary and
holds no final block, so parts deflated apart, each by a compressor of
its own, can be laid end to end and closed with one empty final block:
the result is one valid deflate stream, and the whole is one gzip
member that any reader inflates.  A part that did not change since the
last scrape is therefore never compressed again.  The CRC-32 of the
whole is made from each part's CRC and length; the parts' text need
not be kept.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import NamedTuple

#: Speed over size: the page is scraped often and inflated at once.
LEVEL = 1
#: Raw deflate: no zlib header or trailer around a part.
_RAW = -zlib.MAX_WBITS
#: ID1, ID2, CM deflate, no flags, no time, no extra flags, unknown OS.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: An empty block marked final: what ends the laid-out parts.
_FINAL = zlib.compressobj(LEVEL, zlib.DEFLATED, _RAW).flush()


class Deflated(NamedTuple):
    """One part of a page, deflated on its own."""

    #: Raw deflate data, sync-flushed, with no final block.
    data: bytes
    #: The CRC-32 of the part's text.
    crc: int
    #: The length of the part's text, in bytes.
    size: int
    #: The CRC-32 of as many zero bytes, for :func:`member`.
    zeros: int


def deflate(text: bytes) -> Deflated:
    """Deflate *text* as a part that can be laid beside any other."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, _RAW)
    data = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
    size = len(text)
    return Deflated(data, zlib.crc32(text), size, zlib.crc32(bytes(size)))


def member(parts: Sequence[Deflated]) -> bytes:
    """Return one gzip member whose text is that of *parts*, in order.

    CRC-32 is affine over GF(2) in its starting value and the text
    together.  So the CRC of a text started from the CRC of all that
    came before is the XOR of three: its own CRC (from zero), the CRC so
    far carried over as many zero bytes as the text holds, and zero
    carried over them.  That way the parts' text need not be kept.
    """
    crc = 0
    size = 0
    for part in parts:
        if part.size:
            crc = zlib.crc32(bytes(part.size), crc) ^ part.crc ^ part.zeros
            size += part.size
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"".join([_HEADER, *(part.data for part in parts), _FINAL, trailer])
