"""The harness of the browser suite: a throwaway TLS certificate, loopback servers in threads,
the media files the examples link to, and how to launch this machine's Chromium.

The browser resolves every ``*.example.test`` name to 127.0.0.1 (``--host-resolver-rules``), so
the app and the edge live on two real host names of one site, ``example.test``, as a production
app and its CloudFront distribution would (``app.example.com``, ``media.example.com``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import BaseWSGIServer, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from starlette.types import ASGIApp

SITE = "example.test"
"""``.test`` is reserved (RFC 2606), so these names can never reach a real host."""
APP_HOST = f"app.{SITE}"
MEDIA_HOST = f"media.{SITE}"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    f"--host-resolver-rules=MAP *.{SITE} 127.0.0.1",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class Certificate:
    """One self-signed certificate for both host names, and its files."""

    certfile: Path
    keyfile: Path
    spki_sha256: str
    """base64 of the SHA-256 of the SubjectPublicKeyInfo: what Chromium's
    ``--ignore-certificate-errors-spki-list`` trusts."""

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context


def make_certificate(folder: Path) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, APP_HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(APP_HOST), x509.DNSName(MEDIA_HOST)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Certificate(certfile, keyfile, base64.b64encode(hashlib.sha256(spki).digest()).decode())


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour truecolour PNG, built from the PNG spec (signature, IHDR, IDAT, IEND; each
    chunk is length, type, data, CRC-32 of type and data), so the suite needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter 0 per row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free loopback port (no race between picking a port
    and binding it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(server: BaseWSGIServer) -> Iterator[int]:
    """Run a werkzeug server in a thread; yields its port, then shuts it down and closes it."""
    thread = threading.Thread(target=server.serve_forever, name="wsgi-server", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def serve_wsgi(app: WSGIApplication, certificate: Certificate) -> AbstractContextManager[int]:
    """Werkzeug's threaded server over TLS on a free loopback port."""
    return serving(
        make_server("127.0.0.1", 0, app, threaded=True, ssl_context=certificate.server_context())
    )


@contextmanager
def serve_asgi(app: ASGIApp, certificate: Certificate) -> Iterator[int]:
    """Uvicorn over TLS on a free loopback port, in a thread; yields the port."""
    config = uvicorn.Config(
        app,
        ssl_certfile=str(certificate.certfile),
        ssl_keyfile=str(certificate.keyfile),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    with free_socket() as sock:
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="asgi-app", daemon=True
        )
        thread.start()
        try:
            for _ in range(200):
                if server.started or not thread.is_alive():
                    break
                threading.Event().wait(0.05)
            assert server.started, "uvicorn did not start"
            yield sock.getsockname()[1]
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            # uvicorn waits for every open connection: close the browser before the server.
            assert not thread.is_alive(), "uvicorn did not stop: a client kept a connection open"
