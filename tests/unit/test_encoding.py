"""Content-Encoding decoding (inspector.http.encoding): against zlib/gzip as the independent encoders."""

from __future__ import annotations

import gzip
import zlib

import pytest

from inspector.http.encoding import PIECE, BodyDecoder, decode_body

from helpers.memory import peak_of

TEXT = b"data: tick\n\n" * 5000


def _deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize("encoding, body", [
    ("gzip", gzip.compress(TEXT)),
    ("x-gzip", gzip.compress(TEXT)),
    ("deflate", zlib.compress(TEXT)),       # RFC 9110: zlib-wrapped
    ("deflate", _deflate_raw(TEXT)),        # what some servers send instead
    (" GZIP ", gzip.compress(TEXT)),
])
def test_decodes_any_chunking(encoding, body):
    for size in (1, 7, 1000, len(body)):
        decoder = BodyDecoder.for_header(encoding)
        out = b"".join(p for i in range(0, len(body), size) for p in decoder.pieces(body[i:i + size]))
        assert out == TEXT
        assert not decoder.failed


def test_identity_and_unknown_codings():
    assert BodyDecoder.for_header(None) is None
    assert BodyDecoder.for_header("identity") is None
    with pytest.raises(ValueError, match="br"):
        BodyDecoder.for_header("br")
    assert decode_body(b"abc", None) == b"abc"
    assert decode_body(b"abc", "br") is None


def test_corrupt_body_fails_once_and_stays_failed():
    decoder = BodyDecoder.for_header("gzip")
    with pytest.raises(ValueError, match="corrupt gzip"):
        list(decoder.pieces(b"\x1f\x8b\x08\x00garbage-garbage-garbage"))
    assert decoder.failed
    assert list(decoder.pieces(gzip.compress(b"x"))) == []
    assert decode_body(b"not deflate at all \xff\xfe", "deflate") is None


def test_bomb_is_capped_in_pieces_with_bounded_memory():
    bomb = gzip.compress(b"\0" * (200 << 20), compresslevel=9)  # 200 MiB of zeros in ~200 KB
    decoder = BodyDecoder.for_header("gzip", cap=8 << 20)

    def inflate():
        total = 0
        with pytest.raises(ValueError, match="larger than the cap"):
            for piece in decoder.pieces(bomb):
                assert len(piece) <= PIECE
                total += len(piece)
        return total

    total, peak = peak_of(inflate)
    assert total <= 8 << 20
    assert peak < 4 << 20
    assert decode_body(bomb, "gzip", cap=1 << 20) is None
