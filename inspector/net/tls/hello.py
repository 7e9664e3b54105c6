"""ClientHello, ServerHello and EncryptedExtensions fields a passive reader needs (RFC 8446 4.1-4.3,
RFC 5246 7.4.1).  Malformed messages give what could be read before the damage, never an exception."""

from __future__ import annotations

import struct

__all__ = ["HRR_RANDOM", "Hello", "parse_client_hello", "parse_extensions_alpn", "parse_server_hello"]

#: ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3): SHA-256 of "HelloRetryRequest"
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

_EXT_SNI, _EXT_ALPN, _EXT_ETM, _EXT_EARLY, _EXT_VERSIONS = 0, 16, 22, 42, 43


class Hello:
    """What one hello message says; fields stay at their defaults where it did not say (or was cut)."""

    __slots__ = ("alpn", "early_data", "etm", "hrr", "random", "sni", "suite", "suites", "version")

    def __init__(self) -> None:
        self.random: bytes | None = None
        self.version: int | None = None  # negotiated (server) or highest offered (client)
        self.suites: list[int] = []
        self.suite: int | None = None
        self.sni: str | None = None
        self.alpn: list[str] = []
        self.early_data = False
        self.etm = False  # encrypt_then_mac (RFC 7366)
        self.hrr = False


def _vector(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    if pos + size > len(data):
        raise ValueError("cut")
    length = int.from_bytes(data[pos : pos + size], "big")
    end = pos + size + length
    if end > len(data):
        raise ValueError("cut")
    return data[pos + size : end], end


def _extensions(data: bytes, pos: int):
    block, _ = _vector(data, pos, 2)
    at = 0
    while at + 4 <= len(block):
        etype, length = struct.unpack_from("!HH", block, at)
        if at + 4 + length > len(block):
            return
        yield etype, block[at + 4 : at + 4 + length]
        at += 4 + length


def _alpn(body: bytes) -> list[str]:
    block, _ = _vector(body, 0, 2)
    out, at = [], 0
    while at < len(block):
        name, at = _vector(block, at, 1)
        out.append(name.decode("ascii", "replace"))
    return out


def _sni(body: bytes) -> str | None:
    block, _ = _vector(body, 0, 2)
    at = 0
    while at + 3 <= len(block):
        kind = block[at]
        name, at = _vector(block, at + 1, 2)
        if kind == 0:
            return name.decode("ascii", "replace")
    return None


def parse_client_hello(body: bytes) -> Hello:
    hello = Hello()
    try:
        hello.version = struct.unpack_from("!H", body, 0)[0]
        hello.random = body[2:34] if len(body) >= 34 else None
        _, pos = _vector(body, 34, 1)
        suites, pos = _vector(body, pos, 2)
        hello.suites = [int.from_bytes(suites[i : i + 2], "big") for i in range(0, len(suites) - 1, 2)]
        _, pos = _vector(body, pos, 1)
        for etype, ext in _extensions(body, pos):
            if etype == _EXT_SNI:
                hello.sni = _sni(ext)
            elif etype == _EXT_ALPN:
                hello.alpn = _alpn(ext)
            elif etype == _EXT_EARLY:
                hello.early_data = True
            elif etype == _EXT_VERSIONS and ext:
                versions = [int.from_bytes(ext[i : i + 2], "big") for i in range(1, min(len(ext), 1 + ext[0]), 2)]
                real = [v for v in versions if v & 0x0F0F != 0x0A0A]  # GREASE values are not versions
                if real:
                    hello.version = max(real)
    except (ValueError, struct.error):
        pass
    return hello


def parse_server_hello(body: bytes) -> Hello:
    hello = Hello()
    try:
        hello.version = struct.unpack_from("!H", body, 0)[0]
        hello.random = body[2:34] if len(body) >= 34 else None
        hello.hrr = hello.random == HRR_RANDOM
        _, pos = _vector(body, 34, 1)
        hello.suite = struct.unpack_from("!H", body, pos)[0]
        for etype, ext in _extensions(body, pos + 3):
            if etype == _EXT_VERSIONS and len(ext) >= 2:
                hello.version = int.from_bytes(ext[:2], "big")
            elif etype == _EXT_ALPN:
                hello.alpn = _alpn(ext)
            elif etype == _EXT_ETM:
                hello.etm = True
    except (ValueError, struct.error):
        pass
    return hello


def parse_extensions_alpn(body: bytes) -> tuple[list[str], bool]:
    """EncryptedExtensions (TLS 1.3): (ALPN selected, early data accepted)."""
    alpn: list[str] = []
    early = False
    try:
        for etype, ext in _extensions(body, 0):
            if etype == _EXT_ALPN:
                alpn = _alpn(ext)
            elif etype == _EXT_EARLY:
                early = True
    except (ValueError, struct.error):
        pass
    return alpn, early
