"""One TLS connection seen by a passive observer: ciphertext records in, plaintext application data out.

`TlsSession.feed(direction, data, ts)` takes the next reassembled bytes of one direction ("client" or
"server") and returns ``[(direction, plaintext, ts), ...]``: application data in stream order per
direction, ``ts`` being the time of the segment that completed its record.  A call for one direction can
release the other's data: client records that arrive before the ServerHello (0-RTT early data) wait for
the cipher suite.  `gap(direction)` says the capture lost bytes of a direction; `end()` settles the
reason at the end of the connection; `info()` is the ``connection.tls`` record field.

Record layer (RFC 8446 5, RFC 5246 6.2): records and handshake messages may span segments and records;
a direction holds at most one record and one handshake message (`MAX_HANDSHAKE`, longer messages such as
big certificate chains are skipped, never buffered).  TLS 1.3: handshake keys from
SERVER/CLIENT_HANDSHAKE_TRAFFIC_SECRET until each side's Finished (EncryptedExtensions gives the ALPN the
server picked), then the *_TRAFFIC_SECRET_0 keys, each KeyUpdate moving that direction to the next
secret; HelloRetryRequest and the middlebox-compatibility ChangeCipherSpec are passed over; the inner
content type is the last non-zero byte of the plaintext.  0-RTT early data is decrypted with
CLIENT_EARLY_TRAFFIC_SECRET when the key log has it; otherwise those records (which also fail the
handshake key: that is how a server skips them) are skipped and the reason says so.  TLS 1.2: each
direction switches to its keys at its ChangeCipherSpec.

Why a connection is not (fully) decrypted, in ``info()["reason"]`` (None when it is): the constants
``NO_KEY`` ... below.  Nothing here raises on bad input.
"""

from __future__ import annotations

from inspector.net.tls.hello import (
    parse_client_hello,
    parse_extensions_alpn,
    parse_server_hello,
)
from inspector.net.tls.keys import (
    SUITES,
    DecryptError,
    KeyLog,
    RecordCipher,
    next_traffic_secret,
    tls12_ciphers,
    tls13_cipher,
)

__all__ = [
    "DECRYPT_FAILED",
    "EARLY_DATA",
    "GAP",
    "INCOMPLETE",
    "NOT_TLS",
    "NO_HANDSHAKE",
    "NO_KEY",
    "UNSUPPORTED_SUITE",
    "UNSUPPORTED_VERSION",
    "TlsSession",
    "looks_like_tls",
]

NO_KEY = "no key"
UNSUPPORTED_SUITE = "unsupported cipher suite"
UNSUPPORTED_VERSION = "unsupported TLS version"
NO_HANDSHAKE = "capture started after the handshake"
INCOMPLETE = "handshake incomplete in the capture"
GAP = "gap in the capture desynchronised the records"
EARLY_DATA = "0-RTT early data without its secret"
DECRYPT_FAILED = "decryption failed"
NOT_TLS = "not a TLS record stream"

MAX_RECORD = 16384 + 2048  # TLSCiphertext.length limit (RFC 5246 6.2.3)
MAX_HANDSHAKE = 64 * 1024  # handshake message bytes held; longer messages are skipped
MAX_QUEUED = 256 * 1024  # client record bytes held until the ServerHello

_CCS, _ALERT, _HANDSHAKE, _APP = 20, 21, 22, 23
_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def looks_like_tls(data: bytes, handshake: bool = True) -> bool:
    """A TLS record header: a handshake record (a ClientHello starts a connection) or, for a capture
    joined mid-way, ``handshake=False`` also accepts application data and alerts."""
    if len(data) < 5 or data[1] != 3 or data[2] > 4:
        return False
    kinds = (_HANDSHAKE,) if handshake else (_HANDSHAKE, _APP, _ALERT, _CCS)
    return data[0] in kinds and (data[3] << 8 | data[4]) <= MAX_RECORD


class _Side:
    __slots__ = ("buf", "cipher", "dead", "early", "hs", "hs_skip", "pending", "phase", "queue", "queued", "secret")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.cipher: RecordCipher | None = None
        self.pending: RecordCipher | None = None  # TLS 1.2: active from this side's ChangeCipherSpec
        self.early: RecordCipher | None = None  # TLS 1.3 client: the 0-RTT key, if known
        self.phase = "hello"  # hello | handshake | app
        self.secret = b""  # TLS 1.3 current application traffic secret
        self.hs = bytearray()
        self.hs_skip = 0
        self.dead = False
        self.queue: list[tuple[int, bytes, bytes, float]] = []  # records waiting for the other side's hello
        self.queued = 0


class TlsSession:
    """See the module docstring."""

    def __init__(self, keylog: KeyLog) -> None:
        self.keylog = keylog
        self.sides = {"client": _Side(), "server": _Side()}
        self.client_hello = None
        self.server_hello = None
        self.alpn: str | None = None
        self.suite = None
        self.version: int | None = None
        self.reason: str | None = None
        self.keys = False
        self.early_skipped = 0
        self.records = 0  # records decrypted
        self._out: list[tuple[str, bytes, float]] = []

    # -- input ----------------------------------------------------------------------------------------

    def feed(self, direction: str, data: bytes, ts: float) -> list[tuple[str, bytes, float]]:
        side = self.sides[direction]
        if side.dead or not data:
            return []
        self._out = out = []
        buf = side.buf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 5 and not side.dead:
            ctype, major, length = buf[pos], buf[pos + 1], buf[pos + 3] << 8 | buf[pos + 4]
            if not _CCS <= ctype <= 24 or major != 3 or length > MAX_RECORD:
                self._fail(side, NOT_TLS)
                break
            if end - pos < 5 + length:
                break
            version = bytes(buf[pos + 1 : pos + 3])
            body = bytes(buf[pos + 5 : pos + 5 + length])
            pos += 5 + length
            self._record(direction, side, ctype, version, body, ts)
        del buf[:pos]
        if side.dead:
            side.buf = bytearray()
        return out

    def gap(self, direction: str) -> None:
        """Bytes of ``direction`` are missing: its record sequence is lost."""
        side = self.sides[direction]
        if not side.dead:
            self._fail(side, GAP)

    def end(self) -> None:
        """The connection is over: an undecided connection gets its reason."""
        if self.reason is None and not self._in_use():
            if self.client_hello is None:
                self.reason = NO_HANDSHAKE if self.records == 0 else None
            else:
                self.reason = INCOMPLETE

    def _in_use(self) -> bool:
        """Both sides finished the handshake (switched to their application keys)."""
        return all(side.phase == "app" for side in self.sides.values())

    def info(self) -> dict:
        ch, sh = self.client_hello, self.server_hello
        version = self.version
        suite = sh.suite if sh is not None else None
        known = SUITES.get(suite) if suite is not None else None
        return {
            "version": _VERSIONS.get(version, f"0x{version:04x}") if version is not None else None,
            "cipher": known.name if known else (f"0x{suite:04x}" if suite is not None else None),
            "sni": ch.sni if ch is not None else None,
            "alpn": self.alpn,
            "alpn_offered": list(ch.alpn) if ch is not None else [],
            "decrypted": self.reason is None and self._in_use(),
            "reason": self.reason,
        }

    # -- records --------------------------------------------------------------------------------------

    def _fail(self, side: _Side, reason: str) -> None:
        side.dead = True
        if self.reason is None:
            self.reason = reason

    def _record(self, direction: str, side: _Side, ctype: int, version: bytes, body: bytes, ts: float) -> None:
        if direction == "client" and self._before_server_hello():
            self._hold(side, ctype, version, body, ts)
            return
        if direction == "server" and self.client_hello is None and self.reason is None and (
            ctype == _HANDSHAKE or side.queue
        ):
            self._hold(side, ctype, version, body, ts)  # the ClientHello is still in the client's buffer
            return
        if ctype == _CCS:
            if side.pending is not None:  # TLS 1.2; in TLS 1.3 a middlebox-compatibility record
                side.cipher, side.pending = side.pending, None
                side.phase = "app"
            return
        if side.cipher is None:
            if ctype == _HANDSHAKE and side.phase == "hello":
                self._handshake(direction, side, body)
            elif ctype == _APP:
                if self.client_hello is None:
                    self._fail(side, NO_HANDSHAKE)
                elif self.reason is None:
                    self._fail(side, INCOMPLETE)
                else:
                    side.dead = True
            return
        if ctype != _APP and self.version == 0x0304:  # TLS 1.3 encrypts only in application_data records:
            return  # a plaintext alert, or the second ClientHello after a HelloRetryRequest
        had_early = side.early is not None
        try:
            inner, plain = self._decrypt(side, ctype, version, body)
        except DecryptError:
            if direction == "client" and side.phase == "handshake" and self._early():
                self.early_skipped += 1  # 0-RTT the server rejected, or whose key is not in the log
                if not had_early and self.reason is None:
                    self.reason = EARLY_DATA
                return
            self._fail(side, DECRYPT_FAILED)
            return
        self.records += 1
        if inner == _APP:
            if plain:
                self._out.append((direction, plain, ts))
        elif inner == _HANDSHAKE:
            self._handshake(direction, side, plain)

    def _before_server_hello(self) -> bool:
        """Client records after its ClientHello wait for the ServerHello (the suite, the keys)."""
        sh = self.server_hello
        return self.client_hello is not None and not self.keys and (sh is None or sh.hrr) and self.reason is None

    def _early(self) -> bool:
        return self.client_hello is not None and self.client_hello.early_data

    def _decrypt(self, side: _Side, ctype: int, version: bytes, body: bytes):
        if side.early is not None:
            try:
                return side.early.decrypt(ctype, version, body)
            except DecryptError:
                side.early = None  # no more early data: the handshake key from here
        return side.cipher.decrypt(ctype, version, body)

    def _hold(self, side: _Side, ctype: int, version: bytes, body: bytes, ts: float) -> None:
        side.queued += len(body)
        if side.queued > MAX_QUEUED:
            side.queue.clear()
            self._fail(side, INCOMPLETE)
            return
        side.queue.append((ctype, version, body, ts))

    def _release(self, direction: str) -> None:
        side = self.sides[direction]
        queue, side.queue, side.queued = side.queue, [], 0
        for ctype, version, body, ts in queue:
            if not side.dead:
                self._record(direction, side, ctype, version, body, ts)

    # -- handshake messages ---------------------------------------------------------------------------

    def _handshake(self, direction: str, side: _Side, data: bytes) -> None:
        if side.hs_skip:
            skipped = min(side.hs_skip, len(data))
            side.hs_skip -= skipped
            data = data[skipped:]
        hs = side.hs
        hs += data
        pos = 0
        while len(hs) - pos >= 4:
            mtype, length = hs[pos], int.from_bytes(hs[pos + 1 : pos + 4], "big")
            available = len(hs) - pos - 4
            if length > MAX_HANDSHAKE and available < length:
                side.hs_skip = length - available
                pos = len(hs)
                break
            if available < length:
                break
            body = bytes(hs[pos + 4 : pos + 4 + length])
            pos += 4 + length
            self._message(direction, side, mtype, body)
        del hs[:pos]

    def _message(self, direction: str, side: _Side, mtype: int, body: bytes) -> None:
        if direction == "client":
            if mtype == 1 and self.client_hello is None:
                self.client_hello = parse_client_hello(body)
                self._release("server")
            elif mtype == 5:  # EndOfEarlyData: the handshake key from the next record
                side.early = None
            elif mtype == 20 and side.phase == "handshake":
                self._switch(side, "CLIENT_TRAFFIC_SECRET_0")
            elif mtype == 24 and side.phase == "app" and self.version == 0x0304:
                self._key_update(side)
            return
        if mtype == 2 and not self.keys:  # a later ServerHello (TLS 1.2 renegotiation) is not followed
            hello = parse_server_hello(body)
            self.version = hello.version
            if hello.hrr:  # HelloRetryRequest: the real ServerHello follows
                self.server_hello = self.server_hello or hello
                return
            self.server_hello = hello
            self.alpn = hello.alpn[0] if hello.alpn else None
            self._keys()
        elif mtype == 8:
            alpn, _ = parse_extensions_alpn(body)
            self.alpn = alpn[0] if alpn else self.alpn
        elif mtype == 20 and side.phase == "handshake":
            self._switch(side, "SERVER_TRAFFIC_SECRET_0")
        elif mtype == 24 and side.phase == "app" and self.version == 0x0304:
            self._key_update(side)

    def _switch(self, side: _Side, label: str) -> None:
        secret = self.keylog.get(self.client_hello.random).get(label)
        side.secret = secret
        side.cipher = tls13_cipher(self.suite, secret)
        side.phase = "app"

    def _key_update(self, side: _Side) -> None:
        side.secret = next_traffic_secret(side.secret, self.suite.hash_name)
        side.cipher = tls13_cipher(self.suite, side.secret)

    def _keys(self) -> None:
        """After the ServerHello: the ciphers of both directions, or the reason there are none."""
        client, server = self.sides["client"], self.sides["server"]
        ch, sh = self.client_hello, self.server_hello
        if ch is None or ch.random is None:
            return self._stop(INCOMPLETE)
        suite = SUITES.get(sh.suite)
        if sh.version not in (0x0303, 0x0304):
            return self._stop(UNSUPPORTED_VERSION)
        if suite is None or (suite.kind == "tls13") != (sh.version == 0x0304):
            return self._stop(UNSUPPORTED_SUITE)
        self.suite = suite
        secrets = self.keylog.get(ch.random)
        if sh.version == 0x0304:
            labels = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                      "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")
            if not all(label in secrets for label in labels):
                return self._stop(NO_KEY)
            server.cipher = tls13_cipher(suite, secrets[labels[1]])
            client.cipher = tls13_cipher(suite, secrets[labels[0]])
            server.phase = client.phase = "handshake"
            if ch.early_data and "CLIENT_EARLY_TRAFFIC_SECRET" in secrets:
                client.early = tls13_cipher(suite, secrets["CLIENT_EARLY_TRAFFIC_SECRET"])
        else:
            master = secrets.get("CLIENT_RANDOM")
            if master is None:
                return self._stop(NO_KEY)
            client.pending, server.pending = tls12_ciphers(suite, master, ch.random, sh.random, sh.etm)
            server.phase = client.phase = "handshake"
        self.keys = True
        self._release("client")

    def _stop(self, reason: str) -> None:
        for side in self.sides.values():
            self._fail(side, reason)
            side.queue.clear()
