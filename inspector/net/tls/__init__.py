"""TLS decryption for a passive observer with a key log (sans-IO, on `cryptography`).

`TlsSession` (session.py) turns the two reassembled byte streams of a TLS connection into the
plaintext application data of each direction; `KeyLog` (keys.py) holds the secrets it looks up by
ClientHello random.  The plaintext is handed to whatever decodes the connection's application protocol
(HTTP/1.x today; the ALPN in ``TlsSession.alpn`` says which): the source treats it exactly as the bytes
of a cleartext connection.

Supported: TLS 1.3 with TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256;
TLS 1.2 with AES-128/256-GCM (explicit nonce), CHACHA20-POLY1305 (nonce XORed with the sequence number)
and AES-CBC with HMAC-SHA1/SHA256/SHA384 (MAC-then-encrypt, or encrypt-then-MAC when negotiated).  The
extended master secret (RFC 7627) changes how the master secret is computed from the handshake, not how
keys come from it; a key log's CLIENT_RANDOM line gives the master secret itself, so it does not matter
to this reader.  TLS 1.0/1.1 and SSL 3 are reported as unsupported.
"""

from inspector.net.tls.keys import KeyLog
from inspector.net.tls.session import TlsSession, looks_like_tls

__all__ = ["KeyLog", "TlsSession", "looks_like_tls"]
