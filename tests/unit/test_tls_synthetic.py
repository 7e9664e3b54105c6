"""TLS 1.3 features OpenSSL's Python binding cannot be made to produce (KeyUpdate, 0-RTT early data): a
record stream built here from the RFC 8446 formulas, with `cryptography`'s AES-GCM (not the reader's record
code) and HKDF-Expand-Label (checked against RFC 8448 in test_tls_keys.py)."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inspector.net.tls import KeyLog, TlsSession
from inspector.net.tls import session as S
from inspector.net.tls.keys import hkdf_expand_label

RANDOM = bytes(range(32))
SECRETS = {label: bytes([n]) * 32 for n, label in enumerate(
    ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
     "SERVER_TRAFFIC_SECRET_0", "CLIENT_EARLY_TRAFFIC_SECRET"], start=1)}


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _plain(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + struct.pack("!H", len(body)) + body


class _Writer:
    """One direction's record protection under one traffic secret (RFC 8446 5.2, 5.3)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.key = hkdf_expand_label(secret, "key", b"", 16)
        self.iv = hkdf_expand_label(secret, "iv", b"", 12)
        self.seq = 0

    def record(self, inner_type: int, content: bytes, padding: int = 3) -> bytes:
        inner = content + bytes([inner_type]) + bytes(padding)
        header = bytes([23, 3, 3]) + struct.pack("!H", len(inner) + 16)
        nonce = (int.from_bytes(self.iv, "big") ^ self.seq).to_bytes(12, "big")
        self.seq += 1
        return header + AESGCM(self.key).encrypt(nonce, inner, header)


def _streams(early: bool) -> tuple[bytes, bytes]:
    extensions = _ext(43, b"\x02\x03\x04") + _ext(0, b"\x00\x0c\x00\x00\x09localhost")
    extensions += _ext(16, b"\x00\x09\x08http/1.1") + (_ext(42, b"") if early else b"")
    hello = b"\x03\x03" + RANDOM + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    client = _plain(22, _message(1, hello + struct.pack("!H", len(extensions)) + extensions))
    if early:
        zero_rtt = _Writer(SECRETS["CLIENT_EARLY_TRAFFIC_SECRET"])
        client += zero_rtt.record(23, b"early request")
        client += zero_rtt.record(22, _message(5, b""))  # EndOfEarlyData
    client += _Writer(SECRETS["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]).record(22, _message(20, bytes(32)))
    client += _Writer(SECRETS["CLIENT_TRAFFIC_SECRET_0"]).record(23, b"request")

    server_hello = b"\x03\x03" + bytes(32) + b"\x00" + b"\x13\x01" + b"\x00"
    server_ext = _ext(43, b"\x03\x04")
    server = _plain(22, _message(2, server_hello + struct.pack("!H", len(server_ext)) + server_ext))
    server += _plain(20, b"\x01")  # middlebox-compatibility ChangeCipherSpec
    encrypted_extensions = _ext(16, b"\x00\x09\x08http/1.1")
    handshake = _message(8, struct.pack("!H", len(encrypted_extensions)) + encrypted_extensions)
    handshake += _message(20, bytes(32))
    server_hs = _Writer(SECRETS["SERVER_HANDSHAKE_TRAFFIC_SECRET"])
    server += server_hs.record(22, handshake[:10]) + server_hs.record(22, handshake[10:])  # split message
    app = _Writer(SECRETS["SERVER_TRAFFIC_SECRET_0"])
    server += app.record(23, b"response one")
    server += app.record(22, _message(24, b"\x00"))  # KeyUpdate(update_not_requested)
    updated = _Writer(hkdf_expand_label(app.secret, "traffic upd", b"", 32))
    server += updated.record(23, b"after the key update", padding=40)
    return client, server


def _run(client: bytes, server: bytes, labels) -> tuple[dict, dict]:
    keylog = KeyLog()
    keylog.add("".join(f"{label} {RANDOM.hex()} {SECRETS[label].hex()}\n" for label in labels))
    session = TlsSession(keylog)
    out = {"client": b"", "server": b""}
    for direction, data in (("client", client), ("server", server)):
        for side, plain, _ in session.feed(direction, data, 0.0):
            out[side] += plain
    session.end()
    return out, session.info()


ALL_BUT_EARLY = [label for label in SECRETS if label != "CLIENT_EARLY_TRAFFIC_SECRET"]


def test_key_update_padding_and_split_encrypted_extensions():
    out, info = _run(*_streams(early=False), ALL_BUT_EARLY)
    assert out == {"client": b"request", "server": b"response one" + b"after the key update"}
    assert info["decrypted"] and info["alpn"] == "http/1.1" and info["sni"] == "localhost"
    assert info["cipher"] == "TLS_AES_128_GCM_SHA256" and info["version"] == "TLS 1.3"


def test_early_data_with_its_secret():
    out, info = _run(*_streams(early=True), list(SECRETS))
    assert out["client"] == b"early request" + b"request" and info["decrypted"]


def test_early_data_without_its_secret_is_skipped_and_said():
    out, info = _run(*_streams(early=True), ALL_BUT_EARLY)
    assert out["client"] == b"request"  # the rest of the connection is still decrypted
    assert out["server"].endswith(b"after the key update")
    assert info["reason"] == S.EARLY_DATA and not info["decrypted"]


def test_unsupported_suite_is_said():
    client, server = _streams(early=False)
    server = server.replace(b"\x00\x13\x01\x00", b"\x00\x13\x04\x00", 1)  # TLS_AES_128_CCM_SHA256
    out, info = _run(client, server, ALL_BUT_EARLY)
    assert info["reason"] == S.UNSUPPORTED_SUITE and info["cipher"] == "0x1304"
    assert out == {"client": b"", "server": b""}
