"""The harness of the browser suite: a throwaway TLS certificate, loopback servers in threads,
the media files the examples link to, and how to launch this machine's Chromium.

The browser resolves every ``*.example.test`` name to 127.0.0.1 (``--host-resolver-rules``), so
the app and the edge live on two real host names of one site, ``example.test``, as a production
app and its CloudFront distribution would (``app.example.com``, ``media.example.com``).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from conftest import SelfSignedCertificate, self_signed_certificate, serving
from cryptography.hazmat.primitives import serialization
from werkzeug.serving import make_server

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


def make_certificate(folder: Path) -> SelfSignedCertificate:
    """One self-signed certificate for both host names."""
    return self_signed_certificate(folder, APP_HOST, MEDIA_HOST)


def spki_sha256(certificate: SelfSignedCertificate) -> str:
    """base64 of the SHA-256 of the SubjectPublicKeyInfo: what Chromium's
    ``--ignore-certificate-errors-spki-list`` trusts."""
    spki = certificate.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free loopback port (no race between picking a port
    and binding it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_wsgi(
    app: WSGIApplication, certificate: SelfSignedCertificate, sock: socket.socket | None = None
) -> AbstractContextManager[int]:
    """Werkzeug's threaded server over TLS on a free loopback port, or on ``sock`` (from
    :func:`free_socket`) when the port had to be known before the app was built."""
    context = certificate.server_context()
    if sock is None:
        return serving(make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context))
    sock.listen()
    port = sock.getsockname()[1]
    server = make_server(
        "127.0.0.1", port, app, threaded=True, ssl_context=context, fd=sock.fileno()
    )
    return serving(server)


@contextmanager
def serve_asgi(app: ASGIApp, certificate: SelfSignedCertificate) -> Iterator[int]:
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
