"""Shared fixtures: AWS's published test keys and vectors, fresh keys, and the no-skip switch."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from benchmarks.load import free_ports as free_ports  # the tests' port picker too

VECTORS = Path(__file__).parent / "vectors"
NO_SKIP = os.environ.get("CFCOOKIE_NO_SKIP") == "1"
"""Set by .ci/run: a test that would skip for a missing tool fails instead, so CI never skips."""


def require(condition: bool, reason: str) -> None:
    """Skip (on a user's machine) or fail (in CI) when something a test needs is missing."""
    if condition:
        return
    if NO_SKIP:
        pytest.fail(f"CFCOOKIE_NO_SKIP=1 but {reason}")
    pytest.skip(reason)


def require_executable(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def sep_vectors() -> dict[str, Any]:
    """AWS's cross-SDK signing vectors (aws-cli, aws-sdk-ruby, aws-sdk-net)."""
    data: dict[str, Any] = json.loads((VECTORS / "sep-vectors.json").read_text())
    return data


@pytest.fixture(scope="session")
def rsa_key_path() -> Path:
    """The RSA-1024 test key published with the vectors (PKCS#8 PEM)."""
    return VECTORS / "test-rsa-key.pem"


@pytest.fixture(scope="session")
def ecdsa_key_path() -> Path:
    """The ECDSA P-256 test key published with the vectors (PKCS#8 PEM)."""
    return VECTORS / "test-ecdsa-key.pem"


@pytest.fixture(scope="session")
def rsa2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class SelfSignedCertificate:
    """A self-signed certificate written to disk, for TLS servers on loopback."""

    certfile: Path
    keyfile: Path
    public_key: ec.EllipticCurvePublicKey

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (its own CA) and nothing else."""
        return ssl.create_default_context(cafile=str(self.certfile))


def self_signed_certificate(folder: Path, *names: str) -> SelfSignedCertificate:
    """A certificate for host names or IP addresses, signed by its own key and usable as its
    own trust anchor (CA, with key identifiers, as strict X.509 verification requires)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
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
    return SelfSignedCertificate(certfile, keyfile, key.public_key())


def import_error_without(module: str, blocked: str) -> str:
    """The ImportError message of importing ``module`` in a fresh interpreter where the
    package ``blocked`` is missing (as on a machine without that extra)."""
    code = (
        f"import sys\nsys.modules[{blocked!r}] = None\n"
        f"try:\n    import {module}\nexcept ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[int]:
    """Run ``server`` (Werkzeug's, the edge's or any socketserver) in a thread; yields its
    port, then shuts it down and closes it."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]  # (host, port) for a TCP server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def running_uvicorn(app: Any) -> Iterator[int]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields the port."""
    import uvicorn

    config = uvicorn.Config(app, lifespan="off", ws="none", log_level="warning")
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class GatedVisit:
    """A first visit held at a remote signer's gate, and what the server did meanwhile."""

    granted: Any  # the visit's response, once the gate opened
    unrelated: Any  # the unrelated request's response, answered while the visit waited
    waited: bool  # the visit was still at the gate when the unrelated answer came


def gated_first_visit(
    app: Any, backend: Any, unrelated_path: str, headers: dict[str, str] | None = None
) -> GatedVisit:
    """Under real uvicorn, a first visit to ``/videos/a.mp4`` whose signature ``backend`` (a
    ``GatedBackend``) holds at its gate, and meanwhile a request to ``unrelated_path``: an
    event loop blocked by the signature could not answer it."""
    import httpx2

    backend.armed = True
    with running_uvicorn(app) as port, ThreadPoolExecutor(1) as pool:
        base = f"http://127.0.0.1:{port}"
        granted = pool.submit(httpx2.get, f"{base}/videos/a.mp4", headers=headers, timeout=30)
        backend.wait_for(1)
        unrelated = httpx2.get(f"{base}{unrelated_path}", headers=headers, timeout=5)
        waited = not granted.done()
        backend.release.set()
        return GatedVisit(granted.result(30), unrelated, waited)


@contextmanager
def configured_django(**values: Any) -> Iterator[None]:
    """Django's settings for one test module (they are global, and configured once): set on
    entry, with the app registry ready (empty, as ``get_asgi_application`` leaves it), and
    unconfigured on exit, for whatever module runs next."""
    import django
    from django.conf import settings
    from django.utils.functional import empty

    assert not settings.configured, "Django settings were configured before this module"
    settings.configure(**values)
    django.setup(set_prefix=False)
    try:
        yield
    finally:
        settings._wrapped = empty
