"""TLS key material: RFC 8448 section 3 ("Simple 1-RTT Handshake") key schedule values, the NSS key log."""

from __future__ import annotations

from inspector.net.tls.keys import (
    KeyLog,
    hkdf_expand_label,
    next_traffic_secret,
    traffic_keys,
)
from inspector.records import Connection, TlsInfo, to_dict

H = bytes.fromhex

# RFC 8448 section 3, as printed there.
HANDSHAKE_SECRET = H("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac")
HELLO_HASH = H("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8")
CLIENT_HS = H("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
SERVER_HS = H("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
CLIENT_AP = H("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
SERVER_AP = H("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")


def test_rfc8448_handshake_traffic_secrets_from_the_handshake_secret():
    # Derive-Secret(handshake_secret, "c hs traffic", ClientHello..ServerHello) = HKDF-Expand-Label with
    # the transcript hash as context: checks the label and context encoding.
    assert hkdf_expand_label(HANDSHAKE_SECRET, "c hs traffic", HELLO_HASH, 32) == CLIENT_HS
    assert hkdf_expand_label(HANDSHAKE_SECRET, "s hs traffic", HELLO_HASH, 32) == SERVER_HS


def test_rfc8448_handshake_keys_and_ivs():
    assert traffic_keys(SERVER_HS, 16) == (H("3fce516009c21727d0f2e4e86ee403bc"), H("5d313eb2671276ee13000b30"))
    assert traffic_keys(CLIENT_HS, 16) == (H("dbfaa693d1762c5b666af5d950258d01"), H("5bd3c71b836e0b76bb73265f"))


def test_rfc8448_application_keys_and_ivs():
    assert traffic_keys(SERVER_AP, 16) == (H("9f02283b6c9c07efc26bb9f2ac92e356"), H("cf782b88dd83549aadf1e984"))
    assert traffic_keys(CLIENT_AP, 16) == (H("17422dda596ed5d9acd890e3c63f5051"), H("5b78923dee08579033e523d9"))


def test_key_update_is_expand_label_traffic_upd():
    nxt = next_traffic_secret(SERVER_AP)
    assert nxt == hkdf_expand_label(SERVER_AP, "traffic upd", b"", 32)
    assert nxt != SERVER_AP and len(nxt) == 32


def test_keylog_labels_comments_and_malformed_lines():
    random_a, random_b = "aa" * 32, "bb" * 32
    log = KeyLog()
    taken = log.add(
        "# a comment\n\n"
        f"CLIENT_RANDOM {random_a} {'11' * 48}\n"
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {random_b} {'22' * 32}\r\n"
        f"SERVER_TRAFFIC_SECRET_0 {random_b} {'33' * 48}\n"
        f"EXPORTER_SECRET {random_b} {'44' * 32}\n"  # other labels are ignored
        f"CLIENT_RANDOM {random_a}\n"  # malformed: two fields
        f"CLIENT_RANDOM zz{random_a[2:]} {'11' * 48}\n"  # malformed: not hex
        f"CLIENT_RANDOM {'cc' * 31} {'11' * 48}\n"  # malformed: random is not 32 bytes
    )
    assert taken == 3
    assert log.invalid_lines == 3
    assert log.get(H(random_a)) == {"CLIENT_RANDOM": H("11" * 48)}
    assert set(log.get(H(random_b))) == {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"}
    assert log.get(H("dd" * 32)) == {}


def test_keylog_several_files_add_up():
    log = KeyLog()
    log.add(f"CLIENT_RANDOM {'aa' * 32} {'11' * 48}\n".encode())
    log.add(f"CLIENT_TRAFFIC_SECRET_0 {'bb' * 32} {'22' * 32}\n".encode())
    assert len(log) == 2


def test_connection_records_without_tls_have_no_tls_key():
    plain = to_dict(Connection(conn="c1", client=None, server=None, ts_start=None, ts_end=None, source="pcap"))
    assert "tls" not in plain
    info = TlsInfo(version="TLS 1.3", cipher="TLS_AES_128_GCM_SHA256", sni="x", alpn=None, decrypted=False,
                   reason="no key")
    tls = to_dict(Connection(conn="c1", client=None, server=None, ts_start=None, ts_end=None, source="pcap",
                             tls=info))["tls"]
    assert tls["reason"] == "no key" and tls["decrypted"] is False
