"""Shared fixtures: AWS's published test keys and vectors, fresh keys, and the no-skip switch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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
