"""The peer signers our bytes are checked against: botocore and the AWS SDK for JavaScript v3.

Each is driven the way its own users drive it; the JS SDK runs in one node process per batch
(tests/js/sign.mjs) because starting node per example would dominate the run time.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.signers import CloudFrontSigner
from conftest import require, require_executable
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from cfcookie_middleware.signing import b64decode

JS_DIR = Path(__file__).parent / "js"
JS_SDK = JS_DIR / "node_modules" / "@aws-sdk" / "cloudfront-signer"
SIGNING_PARAMS = frozenset(("Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"))
CRYPTO_HASHES: dict[str, hashes.HashAlgorithm] = {"SHA1": hashes.SHA1(), "SHA256": hashes.SHA256()}


def botocore_signer(key_pair_id: str, key: rsa.RSAPrivateKey) -> CloudFrontSigner:
    """botocore leaves the RSA step to the caller: PKCS#1 v1.5 with SHA-1, as its docstring says."""
    return CloudFrontSigner(
        key_pair_id, lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1())
    )


def utc(epoch: int) -> datetime:
    """The aware datetime botocore's API takes for an epoch."""
    return datetime.fromtimestamp(epoch, timezone.utc)


def pem(
    key: PrivateKeyTypes,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    password: bytes | None = None,
) -> str:
    """PEM text of ``key``: unencrypted PKCS#8 by default, the form both SDKs document."""
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode("ascii")


def node_with_js_sdk() -> str:
    """The node executable, once the pinned SDK is installed in tests/js.

    Skips without them, except in CI (``CFCOOKIE_NO_SKIP=1``), where it fails. Call it from a
    fixture, not inside a hypothesis test, so a skip is not taken for a falsifying example.
    """
    node = require_executable("node")
    require(JS_SDK.is_dir(), "the JS SDK is not installed: run `npm ci --prefix tests/js`")
    return node


def js_sign(
    node: str, private_key_pem: str, key_pair_id: str, requests: Sequence[dict[str, Any]]
) -> list[Any]:
    """Results of ``@aws-sdk/cloudfront-signer`` for ``requests`` (see tests/js/sign.mjs).

    An error the SDK raised for any request fails the test with the SDK's message.
    """
    batch = {"privateKey": private_key_pem, "keyPairId": key_pair_id, "requests": list(requests)}
    done = subprocess.run(
        [node, str(JS_DIR / "sign.mjs")],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"tests/js/sign.mjs exited {done.returncode}: {done.stderr.strip()}")
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    pairs = list(zip(requests, answers, strict=True))
    errors = [(request, answer["error"]) for request, answer in pairs if "error" in answer]
    if errors:
        pytest.fail(f"the JS SDK refused {len(errors)} request(s), first: {errors[0]}")
    return [answer["result"] for answer in answers]


def js_cookies(result: dict[str, Any]) -> dict[str, str]:
    """The SDK gives ``CloudFront-Expires`` as a JSON number; a cookie carries its decimal text."""
    return {name: str(value) for name, value in result.items()}


def signing_params(url: str) -> dict[str, str]:
    """CloudFront's signing parameters in a signed URL's query, each of which must appear once."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    params = [(name, value) for name, value in pairs if name in SIGNING_PARAMS]
    assert len(dict(params)) == len(params), f"a signing parameter repeats in {url}"
    return dict(params)


def verify(
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    signature: str,
    message: bytes,
    hash_algorithm: str,
) -> None:
    """Raise ``InvalidSignature`` unless ``signature`` (CloudFront base64) signs ``message``.

    Decoding with our own b64decode cannot make a wrong signature verify, so it stays honest.
    """
    raw = b64decode(signature)
    algorithm = CRYPTO_HASHES[hash_algorithm]
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(raw, message, padding.PKCS1v15(), algorithm)
    else:
        public_key.verify(raw, message, ec.ECDSA(algorithm))
