"""Signing backends: a Signer whose key lives elsewhere (a KMS, an HSM)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cfcookie_middleware import ConfigurationError, Signer, Verifier
from cfcookie_middleware.signing import SigningBackend, VerifyingKey

URL = "https://media.example.com/videos/a.mp4"
EXPIRES = 2_000_000_000


class RemoteRSA:
    """A stand-in for a key service: it signs with RSASSA-PKCS1-v1_5 SHA-256 only."""

    hash_algorithm = "SHA256"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self.calls = 0

    def sign(self, message: bytes) -> bytes:
        self.calls += 1
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def public_key(self) -> VerifyingKey:
        return self._key.public_key()

    def __repr__(self) -> str:
        return "RemoteRSA(alias/cloudfront)"


def test_a_backend_signs_and_names_its_hash(rsa2048: rsa.RSAPrivateKey) -> None:
    backend = RemoteRSA(rsa2048)
    assert isinstance(backend, SigningBackend)
    signer = Signer("K2JCJMDEHXQW5F", backend)
    cookies = signer.sign_cookies("https://media.example.com/videos/*", expires=EXPIRES)
    assert cookies["CloudFront-Hash-Algorithm"] == "SHA256"
    assert backend.calls == 1
    verifier = Verifier({"K2JCJMDEHXQW5F": rsa2048.public_key()})
    assert verifier.check_cookies(URL, cookies, now=EXPIRES - 60).allowed
    assert repr(signer) == (
        "Signer(key_pair_id='K2JCJMDEHXQW5F', key=RemoteRSA(alias/cloudfront), "
        "hash_algorithm='SHA256')"
    )


def test_the_backend_decides_the_hash(rsa2048: rsa.RSAPrivateKey) -> None:
    assert Signer("K1", RemoteRSA(rsa2048), hash_algorithm="sha-256").hash_algorithm == "SHA256"
    with pytest.raises(ConfigurationError, match=r"hash_algorithm: RemoteRSA.* signs with SHA256"):
        Signer("K1", RemoteRSA(rsa2048), hash_algorithm="SHA1")
    with pytest.raises(ConfigurationError, match="passphrase"):
        Signer("K1", RemoteRSA(rsa2048), passphrase="secret")


def test_a_backend_must_name_a_known_hash(p256: ec.EllipticCurvePrivateKey) -> None:
    class Nameless:
        hash_algorithm = None

        def sign(self, message: bytes) -> bytes:
            return p256.sign(message, ec.ECDSA(hashes.SHA256()))

        def public_key(self) -> VerifyingKey:
            return p256.public_key()

    with pytest.raises(ConfigurationError, match="must name its hash_algorithm"):
        Signer("K1", Nameless())  # type: ignore[arg-type]
    Nameless.hash_algorithm = "MD5"  # type: ignore[assignment]
    with pytest.raises(ConfigurationError, match="'MD5' is not supported"):
        Signer("K1", Nameless())  # type: ignore[arg-type]


def test_key_objects_are_not_mistaken_for_backends(rsa2048: rsa.RSAPrivateKey) -> None:
    """A cryptography key has sign() and public_key() too, but names no hash."""
    assert not isinstance(rsa2048, SigningBackend)
    assert Signer("K1", rsa2048).hash_algorithm == "SHA1"
