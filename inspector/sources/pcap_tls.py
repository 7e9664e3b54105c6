"""TLS and QUIC in captures: the glue between `inspector.sources.pcap` and `inspector.net.tls`.

A TCP connection whose client starts with a TLS handshake record (or, joined mid-way, either side with a
TLS record) gets a `TlsSession`; `decrypt` turns its reassembled ciphertext events into plaintext events,
which the pcap source then decodes exactly like a cleartext connection's bytes (HTTP/1.x, WebSocket,
SSE; the connection's ALPN is in ``TlsSession.alpn`` for the decoder that wants it).  Keys come from
``--keylog`` files and from pcapng Decryption Secrets Blocks (``KeyLog.add``).

QUIC (UDP with port 443 on one side and the QUIC fixed bit set) is not decrypted: each flow becomes a
connection record with ``protocol = "quic"`` and a ``quic-not-decoded`` warning counts them.
"""

from __future__ import annotations

import struct

from inspector.errors import InputError
from inspector.net.reassembly import DATA, GAP
from inspector.net.tls import KeyLog, TlsSession
from inspector.records import TlsInfo

__all__ = ["QuicFlows", "decrypt", "load_keylog", "tls_info"]


def load_keylog(paths) -> KeyLog:
    """A `KeyLog` from ``--keylog`` files (an unreadable file is an input error)."""
    keylog = KeyLog()
    for path in paths:
        try:
            with open(path, "rb") as f:
                keylog.add(f.read())
        except OSError as exc:
            raise InputError(f"--keylog {path}: {exc.strerror or exc}") from None
    return keylog


def decrypt(session: TlsSession, direction: str, events: list) -> list[tuple[str, list]]:
    """Ciphertext reassembly events of ``direction`` -> ``[(direction, plaintext events), ...]`` in order
    (data of the other direction can come out: client records held until the ServerHello)."""
    out: list[tuple[str, list]] = []
    for kind, value, ts in events:
        if kind is DATA:
            for side, plain, when in session.feed(direction, value, ts):
                out.append((side, [(DATA, plain, when)]))
        else:
            if kind is GAP:
                session.gap(direction)
            out.append((direction, [(kind, value, ts)]))
    return out


def tls_info(session: TlsSession) -> TlsInfo:
    """The ``connection.tls`` field, once the connection is over."""
    session.end()
    return TlsInfo(**session.info())


class QuicFlows:
    """UDP flows to or from port 443 that look like QUIC: counted per 4-tuple, reported at the end."""

    def __init__(self) -> None:
        #: (client ip, client port, server ip, server port) -> [conn id, ts_start, ts_last, bytes c, bytes s]
        self.flows: dict[tuple, list] = {}

    def packet(self, src: bytes, dst: bytes, data: bytes, off: int, end: int, ts: float, new_id) -> None:
        if end - off < 9:
            return
        sport, dport = struct.unpack_from("!HH", data, off)
        if 443 not in (sport, dport) or not data[off + 8] & 0x40:  # QUIC fixed bit (RFC 9000 17)
            return
        size = end - off - 8
        key = (src, sport, dst, dport)
        entry = self.flows.get(key)
        if entry is not None:
            entry[2] = ts
            entry[3] += size
            return
        reverse = (dst, dport, src, sport)
        entry = self.flows.get(reverse)
        if entry is not None:
            entry[2] = ts
            entry[4] += size
            return
        client_is_src = dport == 443
        key = key if client_is_src else reverse
        self.flows[key] = [new_id(), ts, ts, size if client_is_src else 0, 0 if client_is_src else size]
