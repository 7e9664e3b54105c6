"""Key material for a passive TLS reader: the NSS key log, the TLS 1.3 key schedule, the TLS 1.2 PRF and
the record ciphers (all on `cryptography`; no I/O).

Key log (NSS format, what ``SSLKEYLOGFILE`` and ``SSLContext.keylog_filename`` write): one
``LABEL <client random hex> <secret hex>`` per line; ``#`` comments and blank lines are skipped.
``CLIENT_RANDOM`` carries a TLS 1.2 master secret; ``CLIENT_HANDSHAKE_TRAFFIC_SECRET``,
``SERVER_HANDSHAKE_TRAFFIC_SECRET``, ``CLIENT_TRAFFIC_SECRET_0``, ``SERVER_TRAFFIC_SECRET_0`` and
``CLIENT_EARLY_TRAFFIC_SECRET`` are TLS 1.3 traffic secrets.  Other labels (``EXPORTER_SECRET``, ...) are
ignored; malformed lines are counted.  Secrets are found by the ClientHello random.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

__all__ = [
    "SUITES",
    "DecryptError",
    "KeyLog",
    "RecordCipher",
    "Suite",
    "hkdf_expand_label",
    "next_traffic_secret",
    "prf",
    "tls12_ciphers",
    "tls13_cipher",
    "traffic_keys",
]

LABELS = frozenset((
    "CLIENT_RANDOM",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "CLIENT_EARLY_TRAFFIC_SECRET",
))


class KeyLog:
    """Secrets by client random: ``get(random)`` -> ``{label: secret}`` (empty when none)."""

    def __init__(self) -> None:
        self.secrets: dict[bytes, dict[str, bytes]] = {}
        self.invalid_lines = 0

    def add(self, text: bytes | str) -> int:
        """Add the lines of a key log (a file's content or a pcapng secrets block); returns how many
        secrets were taken."""
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        taken = 0
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 3:
                self.invalid_lines += 1
                continue
            label, random_hex, secret_hex = parts
            if label not in LABELS:
                continue
            try:
                random, secret = bytes.fromhex(random_hex), bytes.fromhex(secret_hex)
            except ValueError:
                self.invalid_lines += 1
                continue
            if len(random) != 32 or not 32 <= len(secret) <= 64:
                self.invalid_lines += 1
                continue
            self.secrets.setdefault(random, {})[label] = secret
            taken += 1
        return taken

    def get(self, client_random: bytes) -> dict[str, bytes]:
        return self.secrets.get(client_random, {})

    def __len__(self) -> int:
        return len(self.secrets)


# -- key derivation ----------------------------------------------------------------------------------------

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}


def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int, hash_name: str = "sha256") -> bytes:
    """HKDF-Expand-Label (RFC 8446 7.1)."""
    full = b"tls13 " + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + bytes((len(context),)) + context
    return HKDFExpand(_HASHES[hash_name](), length, info).derive(secret)


def traffic_keys(secret: bytes, key_len: int, hash_name: str = "sha256") -> tuple[bytes, bytes]:
    """(key, iv) of a TLS 1.3 traffic secret (RFC 8446 7.3)."""
    return (hkdf_expand_label(secret, "key", b"", key_len, hash_name),
            hkdf_expand_label(secret, "iv", b"", 12, hash_name))


def next_traffic_secret(secret: bytes, hash_name: str = "sha256") -> bytes:
    """application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 7.2)."""
    return hkdf_expand_label(secret, "traffic upd", b"", len(secret), hash_name)


def prf(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str = "sha256") -> bytes:
    """The TLS 1.2 PRF, P_<hash> (RFC 5246 5)."""
    digest = getattr(hashlib, hash_name)
    seed = label + seed
    out = b""
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, digest).digest()
        out += hmac.new(secret, a + seed, digest).digest()
    return out[:length]


# -- cipher suites -----------------------------------------------------------------------------------------


class Suite:
    """A cipher suite this reader decrypts: ``kind`` tls13 (AEAD, TLS 1.3) | gcm | chacha | cbc (TLS 1.2)."""

    __slots__ = ("code", "hash_name", "key_len", "kind", "mac_name", "name")

    def __init__(self, code: int, name: str, kind: str, key_len: int, hash_name: str, mac_name: str = "") -> None:
        self.code, self.name, self.kind, self.key_len = code, name, kind, key_len
        self.hash_name, self.mac_name = hash_name, mac_name


def _suites() -> dict[int, Suite]:
    table = [
        (0x1301, "TLS_AES_128_GCM_SHA256", "tls13", 16, "sha256"),
        (0x1302, "TLS_AES_256_GCM_SHA384", "tls13", 32, "sha384"),
        (0x1303, "TLS_CHACHA20_POLY1305_SHA256", "tls13", 32, "sha256"),
    ]
    for code, kx, bits, hash_name in [
        (0xC02F, "ECDHE_RSA", 128, "sha256"), (0xC030, "ECDHE_RSA", 256, "sha384"),
        (0xC02B, "ECDHE_ECDSA", 128, "sha256"), (0xC02C, "ECDHE_ECDSA", 256, "sha384"),
        (0x009E, "DHE_RSA", 128, "sha256"), (0x009F, "DHE_RSA", 256, "sha384"),
        (0x009C, "RSA", 128, "sha256"), (0x009D, "RSA", 256, "sha384"),
    ]:
        table.append((code, f"TLS_{kx}_WITH_AES_{bits}_GCM_{hash_name.upper()}", "gcm", bits // 8, hash_name))
    for code, kx in [(0xCCA8, "ECDHE_RSA"), (0xCCA9, "ECDHE_ECDSA"), (0xCCAA, "DHE_RSA")]:
        table.append((code, f"TLS_{kx}_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32, "sha256"))
    out = {code: Suite(code, name, kind, key_len, hash_name) for code, name, kind, key_len, hash_name in table}
    for code, kx, bits, mac in [
        (0xC013, "ECDHE_RSA", 128, "sha1"), (0xC014, "ECDHE_RSA", 256, "sha1"),
        (0xC009, "ECDHE_ECDSA", 128, "sha1"), (0xC00A, "ECDHE_ECDSA", 256, "sha1"),
        (0xC027, "ECDHE_RSA", 128, "sha256"), (0xC028, "ECDHE_RSA", 256, "sha384"),
        (0xC023, "ECDHE_ECDSA", 128, "sha256"), (0xC024, "ECDHE_ECDSA", 256, "sha384"),
        (0x002F, "RSA", 128, "sha1"), (0x0035, "RSA", 256, "sha1"),
        (0x003C, "RSA", 128, "sha256"), (0x003D, "RSA", 256, "sha256"),
    ]:
        name = f"TLS_{kx}_WITH_AES_{bits}_CBC_{'SHA' if mac == 'sha1' else mac.upper()}"
        out[code] = Suite(code, name, "cbc", bits // 8, "sha384" if mac == "sha384" else "sha256", mac)
    return out


SUITES = _suites()


class DecryptError(Exception):
    """A record did not authenticate (wrong key, corrupt or desynchronised record)."""


class RecordCipher:
    """Decrypts the records of one direction under one key, counting the sequence number."""

    __slots__ = ("aead", "etm", "iv", "key", "kind", "mac_key", "mac_len", "mac_name", "seq")

    def __init__(self, kind: str, key: bytes, iv: bytes, mac_key: bytes = b"", mac_name: str = "",
                 etm: bool = False, chacha: bool = False) -> None:
        self.kind, self.iv, self.seq, self.key = kind, iv, 0, key
        self.mac_key, self.mac_name, self.etm = mac_key, mac_name, etm
        self.mac_len = hashlib.new(mac_name).digest_size if mac_name else 0
        if kind == "cbc":
            self.aead = None
        elif kind == "chacha" or chacha:
            self.aead = ChaCha20Poly1305(key)
        else:
            self.aead = AESGCM(key)

    def _nonce(self) -> bytes:
        return (int.from_bytes(self.iv, "big") ^ self.seq).to_bytes(12, "big")

    def decrypt(self, ctype: int, version: bytes, body: bytes) -> tuple[int, bytes]:
        """(content type, plaintext) of one record; raises DecryptError.  TLS 1.3: the inner type,
        padding removed."""
        try:
            if self.kind == "tls13":
                header = bytes((ctype,)) + version + struct.pack("!H", len(body))
                inner = self.aead.decrypt(self._nonce(), body, header)
                end = len(inner)
                while end and not inner[end - 1]:
                    end -= 1
                if not end:
                    raise DecryptError("no inner content type")
                result = inner[end - 1], inner[: end - 1]
            elif self.kind == "gcm":
                if len(body) < 24:
                    raise DecryptError("record too short")
                aad = struct.pack("!QB", self.seq, ctype) + version + struct.pack("!H", len(body) - 24)
                result = ctype, self.aead.decrypt(self.iv + body[:8], body[8:], aad)
            elif self.kind == "chacha":
                if len(body) < 16:
                    raise DecryptError("record too short")
                aad = struct.pack("!QB", self.seq, ctype) + version + struct.pack("!H", len(body) - 16)
                result = ctype, self.aead.decrypt(self._nonce(), body, aad)
            else:
                result = ctype, self._cbc(ctype, version, body)
        except InvalidTag:
            raise DecryptError("authentication failed") from None
        self.seq += 1
        return result

    def _cbc(self, ctype: int, version: bytes, body: bytes) -> bytes:
        """AES-CBC with an explicit IV (TLS 1.1+), MAC-then-encrypt or encrypt-then-MAC (RFC 7366)."""
        mac_len = self.mac_len
        digest = getattr(hashlib, self.mac_name)
        if self.etm:
            if len(body) < 32 + mac_len or (len(body) - mac_len) % 16:
                raise DecryptError("record length")
            body, tag = body[:-mac_len], body[-mac_len:]
            header = struct.pack("!QB", self.seq, ctype) + version + struct.pack("!H", len(body))
            if not hmac.compare_digest(hmac.new(self.mac_key, header + body, digest).digest(), tag):
                raise DecryptError("MAC")
        elif len(body) < 32 or len(body) % 16:
            raise DecryptError("record length")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()
        plain = decryptor.update(body[16:]) + decryptor.finalize()
        pad = plain[-1]
        if pad + 1 > len(plain) - (0 if self.etm else mac_len):
            raise DecryptError("padding")
        plain = plain[: -pad - 1]
        if self.etm:
            return plain
        content, tag = plain[:-mac_len], plain[-mac_len:]
        header = struct.pack("!QB", self.seq, ctype) + version + struct.pack("!H", len(content))
        if not hmac.compare_digest(hmac.new(self.mac_key, header + content, digest).digest(), tag):
            raise DecryptError("MAC")
        return content


def tls13_cipher(suite: Suite, secret: bytes) -> RecordCipher:
    key, iv = traffic_keys(secret, suite.key_len, suite.hash_name)
    return RecordCipher("tls13", key, iv, chacha=suite.code == 0x1303)


def tls12_ciphers(suite: Suite, master: bytes, client_random: bytes, server_random: bytes,
                  etm: bool = False) -> tuple[RecordCipher, RecordCipher]:
    """(client's, server's) record ciphers from the master secret (RFC 5246 6.3)."""
    mac_len = hashlib.new(suite.mac_name).digest_size if suite.kind == "cbc" else 0
    iv_len = {"gcm": 4, "chacha": 12, "cbc": 16}[suite.kind]
    size = 2 * (mac_len + suite.key_len + iv_len)
    block = prf(master, b"key expansion", server_random + client_random, size, suite.hash_name)
    parts = []
    pos = 0
    for length in (mac_len, mac_len, suite.key_len, suite.key_len, iv_len, iv_len):
        parts.append(block[pos : pos + length])
        pos += length
    cmac, smac, ckey, skey, civ, siv = parts
    kind = suite.kind
    return (RecordCipher(kind, ckey, civ, cmac, suite.mac_name, etm),
            RecordCipher(kind, skey, siv, smac, suite.mac_name, etm))
