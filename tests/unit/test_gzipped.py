"""Gzip members laid out from parts deflated apart."""

from __future__ import annotations

import gzip
import zlib

import pytest

from simplepyms.gzipped import deflate, member

TEXTS = [b"# HELP a A.\n# TYPE a gauge\n", b"", b"a 1.0\n" * 1000, b"\n"]


def inflate_one_member(data: bytes) -> bytes:
    """Inflate *data*, which must be exactly one gzip member."""
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)

    text = reader.decompress(data)

    assert reader.eof
    assert b"" == reader.unused_data
    return text


class TestMember:
    """member() of parts deflated with deflate()."""

    def test_inflates_to_the_texts_in_order(self) -> None:
        """The member's text is every part's text, end to end."""
        data = member([deflate(text) for text in TEXTS])

        assert b"".join(TEXTS) == gzip.decompress(data)

    def test_is_one_member(self) -> None:
        """A reader that stops after one member still gets all the text."""
        data = member([deflate(text) for text in TEXTS])

        assert b"".join(TEXTS) == inflate_one_member(data)

    def test_a_part_serves_in_two_pages(self) -> None:
        """A kept part is valid between any neighbours, any number of times."""
        kept = deflate(b"kept 1.0\n" * 50)
        first = member([deflate(b"head\n"), kept])
        second = member([kept, deflate(b"tail\n"), kept])

        assert b"head\n" + b"kept 1.0\n" * 50 == gzip.decompress(first)
        assert (
            b"kept 1.0\n" * 50 + b"tail\n" + b"kept 1.0\n" * 50
            == gzip.decompress(second)
        )

    def test_no_parts(self) -> None:
        """An empty page is an empty, valid member."""
        assert b"" == inflate_one_member(member([]))

    @pytest.mark.parametrize("size", [1, 5_000, 70_000, 1_000_003])
    def test_checksum_and_length_are_right(self, size: int) -> None:
        """The trailer holds the CRC-32 and length of the whole text."""
        text = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        halves = [text[: size // 3], text[size // 3 :]]

        data = member([deflate(half) for half in halves])

        crc, length = int.from_bytes(data[-8:-4], "little"), data[-4:]
        assert zlib.crc32(text) == crc
        assert size.to_bytes(4, "little") == length
