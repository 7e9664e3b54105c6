"""TlsSession on the byte streams of real (in-memory, MemoryBIO) OpenSSL connections: the plaintext the
peers exchanged comes out whatever the segmentation; what cannot be decrypted says why."""

from __future__ import annotations

import ssl

import pytest
from helpers.tls_peers import TLS12_SUITES, contexts, make_cert, memory_pair

from inspector.net.tls import KeyLog, TlsSession
from inspector.net.tls import session as S

EXCHANGES = [
    ("client", b"GET /feed HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("server", b"HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n" + bytes(range(200)) * 200),
    ("client", b"second request"),
]
SENT = {d: b"".join(data for sender, data in EXCHANGES if sender == d) for d in ("client", "server")}


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("cert"))


def _connection(cert, tmp_path, version="1.3", cipher=None, alpn=None, hrr=False):
    keylog_path = tmp_path / "keys.log"
    server_ctx, client_ctx = contexts(*cert, keylog_path, version, cipher, alpn)
    if hrr:  # the client's default key share (x25519) is not one the server takes: HelloRetryRequest
        server_ctx.set_ecdh_curve("secp384r1")
    client, server = memory_pair(server_ctx, client_ctx, EXCHANGES)
    keylog = KeyLog()
    keylog.add(keylog_path.read_bytes())
    return client, server, keylog


def _run(keylog, streams) -> tuple[dict, dict]:
    """Feed ``[(direction, chunk), ...]``; (plaintext per direction, info)."""
    session = TlsSession(keylog)
    out = {"client": b"", "server": b""}
    for direction, chunk in streams:
        for side, plain, _ in session.feed(direction, chunk, 0.0):
            out[side] += plain
    session.end()
    return out, session.info()


def _records(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 5 <= len(data):
        end = pos + 5 + int.from_bytes(data[pos + 3 : pos + 5], "big")
        out.append(data[pos:end])
        pos = end
    return out


@pytest.mark.parametrize("version,cipher", [("1.3", None)] + [("1.2", c) for c in TLS12_SUITES])
def test_decrypts_what_the_peers_sent(cert, tmp_path, version, cipher):
    client, server, keylog = _connection(cert, tmp_path, version, cipher, alpn=["http/1.1"])
    out, info = _run(keylog, [("client", client), ("server", server)])
    assert out == SENT
    assert info["decrypted"] and info["reason"] is None
    assert info["version"] == f"TLS {version}"
    assert info["sni"] == "localhost" and info["alpn"] == "http/1.1" and info["alpn_offered"] == ["http/1.1"]


@pytest.mark.parametrize("version,cipher", [("1.3", None), ("1.2", "ECDHE-RSA-AES128-SHA256")])
def test_every_byte_split_gives_the_same_plaintext(cert, tmp_path, version, cipher):
    client, server, keylog = _connection(cert, tmp_path, version, cipher)
    one_by_one = [("client", client[i : i + 1]) for i in range(len(client))]
    one_by_one += [("server", server[i : i + 1]) for i in range(len(server))]
    assert _run(keylog, one_by_one)[0] == SENT
    for cut in range(1, len(client)):  # the client stream (handshake and requests) split at every byte
        streams = [("client", client[:cut]), ("server", server), ("client", client[cut:])]
        assert _run(keylog, streams)[0] == SENT, cut


def test_hello_retry_request(cert, tmp_path):
    client, server, keylog = _connection(cert, tmp_path, hrr=True)
    first_server_hello = _records(server)[0]
    assert bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c") in first_server_hello
    out, info = _run(keylog, [("client", client), ("server", server)])
    assert out == SENT and info["decrypted"]


def test_capture_cut_mid_handshake(cert, tmp_path):
    client, server, keylog = _connection(cert, tmp_path)
    client_hello, server_hello = _records(client)[0], _records(server)[0]
    assert _run(keylog, [("client", client_hello)])[1]["reason"] == S.INCOMPLETE
    out, info = _run(keylog, [("client", client_hello), ("server", server_hello)])
    assert info["reason"] == S.INCOMPLETE and not info["decrypted"] and out == {"client": b"", "server": b""}
    assert info["cipher"] == "TLS_AES_256_GCM_SHA384"  # what the ServerHello said is kept


def test_capture_started_after_the_handshake(cert, tmp_path):
    client, server, keylog = _connection(cert, tmp_path)
    late = [("client", _records(client)[-1]), ("server", _records(server)[-1])]
    out, info = _run(keylog, late)
    assert info["reason"] == S.NO_HANDSHAKE and out == {"client": b"", "server": b""}


def test_no_key_for_the_client_random(cert, tmp_path):
    client, server, _ = _connection(cert, tmp_path)
    out, info = _run(KeyLog(), [("client", client), ("server", server)])
    assert info["reason"] == S.NO_KEY and not info["decrypted"] and out == {"client": b"", "server": b""}


def test_wrong_key_is_a_decryption_failure_not_garbage(cert, tmp_path):
    client, server, keylog = _connection(cert, tmp_path, "1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    for secrets in keylog.secrets.values():
        secrets["CLIENT_RANDOM"] = bytes(48)
    out, info = _run(keylog, [("client", client), ("server", server)])
    assert info["reason"] == S.DECRYPT_FAILED and out == {"client": b"", "server": b""}


def test_gap_desynchronises_the_direction(cert, tmp_path):
    client, server, keylog = _connection(cert, tmp_path)
    session = TlsSession(keylog)
    session.feed("client", client, 0.0)
    records = _records(server)
    got = b""
    for index, record in enumerate(records):
        if index == len(records) - 2:
            session.gap("server")
        got += b"".join(p for side, p, _ in session.feed("server", record, 0.0) if side == "server")
    session.end()
    assert session.info()["reason"] == S.GAP
    assert SENT["server"].startswith(got) and got != SENT["server"]


def test_not_tls_and_oversized_records_stop_without_raising(cert, tmp_path):
    session = TlsSession(KeyLog())
    assert session.feed("client", b"\x16\x03\x01\xff\xff" + b"\x00" * 100, 0.0) == []
    assert session.info()["reason"] == S.NOT_TLS
    assert session.feed("client", b"more", 0.0) == []
    assert not session.sides["client"].buf  # nothing held after the stream is given up


def test_ssl_module_agrees_on_versions(cert, tmp_path):
    client, server, keylog = _connection(cert, tmp_path, "1.2", "ECDHE-RSA-CHACHA20-POLY1305")
    info = _run(keylog, [("client", client), ("server", server)])[1]
    assert info["cipher"] == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
    assert ssl.OPENSSL_VERSION  # the peers are OpenSSL's
