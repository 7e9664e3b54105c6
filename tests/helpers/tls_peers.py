"""TLS peers for the decryption tests: a self-signed certificate made with `cryptography`, SSL contexts
that write an NSS key log, and an in-memory (MemoryBIO) OpenSSL client/server pair whose byte streams
are the truth of what a TLS connection puts on the wire."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: the TLS 1.2 suites the integration tests force, by OpenSSL name
TLS12_SUITES = ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-SHA256")


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed RSA certificate for ``localhost``/127.0.0.1: (cert.pem, key.pem)."""
    import ipaddress

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def contexts(cert: Path, key: Path, keylog: Path, version: str = "1.3", cipher: str | None = None,
             alpn: list[str] | None = None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts; the client writes ``keylog``; ``version`` "1.2" forces TLS 1.2 with
    ``cipher`` (an OpenSSL cipher string)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    client.keylog_filename = str(keylog)
    if version == "1.2":
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        if cipher:
            client.set_ciphers(cipher)
    if alpn:
        client.set_alpn_protocols(alpn)
        server.set_alpn_protocols(alpn)
    return server, client


def memory_pair(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, exchanges: list[tuple[str, bytes]],
                sni: str = "localhost") -> tuple[bytes, bytes]:
    """Run a handshake and ``exchanges`` ((sender "client"/"server", data), ...) between two in-memory
    OpenSSL endpoints; returns (client->server bytes, server->client bytes) as on the wire."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=sni)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    wire = {"client": bytearray(), "server": bytearray()}

    def pump() -> None:
        for out, sink, name in ((c_out, s_in, "client"), (s_out, c_in, "server")):
            data = out.read()
            if data:
                wire[name] += data
                sink.write(data)

    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            pump()
        if all(done.values()):
            break
    ends = {"client": client, "server": server}
    for sender, data in exchanges:
        ends[sender].write(data)
        pump()
        receiver = ends["server" if sender == "client" else "client"]
        got = b""
        while len(got) < len(data):
            try:
                got += receiver.read(1 << 20)
            except ssl.SSLWantReadError:
                pump()
        pump()
        assert got == data
    return bytes(wire["client"]), bytes(wire["server"])


class Tcpdump:
    """``tcpdump -i lo -U -w FILE FILTER`` as an async context manager that waits for "listening"."""

    def __init__(self, path: Path, bpf: str) -> None:
        # --immediate-mode: without it libpcap hands packets over in blocks after a timeout, so a capture
        # stopped soon after the traffic can lose its packets.
        self.args = ["tcpdump", "-i", "lo", "--immediate-mode", "-B", "16384", "-U", "-w", str(path), bpf]

    async def __aenter__(self) -> Self:
        import asyncio
        import subprocess

        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), 10)
            if not line:
                raise RuntimeError("tcpdump exited: " + " ".join(self.args))
            if b"listening" in line:
                await asyncio.sleep(0.5)  # "listening" can come before the first packets are delivered
                return self

    async def __aexit__(self, *exc) -> None:
        import asyncio
        import signal

        await asyncio.sleep(1.0)
        self.proc.send_signal(signal.SIGINT)
        await self.proc.communicate()
