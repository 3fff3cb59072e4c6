"""The AWS KMS signing backend, against moto's in-process KMS.

Real AWS is not reachable from here, so these tests run against moto's KMS only: they show the
backend makes the requests KMS documents and that the signatures KMS returns make cookies and URLs
CloudFront accepts (judged by the project's ``Verifier`` with the public key, read from the
backend and independently from KMS's ``GetPublicKey``). Fake credentials and region come from the
environment, and no shared AWS config is read, so nothing can reach a real account.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import import_error_without, require
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from werkzeug.test import Client

from cfcookie_middleware import ConfigurationError, Rule, Signer, Verifier
from cfcookie_middleware.edge import Edge
from cfcookie_middleware.testing import assert_cloudfront_cookies
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber
    from moto import mock_aws

    from cfcookie_middleware.kms import KMSBackend
except ImportError:  # pragma: no cover - a user's machine without the extras
    boto3 = None

ROOT = Path(__file__).parent.parent
REGION = "eu-west-1"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
MEDIA = "https://media.example.com"
VIDEOS = f"{MEDIA}/videos/*"
INSIDE = f"{MEDIA}/videos/a.mp4"
OUTSIDE = f"{MEDIA}/images/a.jpg"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region in the environment; no shared AWS config or instance role."""
    require(boto3 is not None, 'boto3 or moto is missing: pip install -e ".[test]"')
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def kms(aws_env: None) -> Iterator[Any]:
    """A boto3 KMS client talking to moto's in-process KMS."""
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def create_key(kms: Any, spec: str, usage: str = "SIGN_VERIFY") -> str:
    key_id: str = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    return key_id


def kms_public_key(kms: Any, key_id: str) -> Any:
    """The public key straight from KMS (DER SubjectPublicKeyInfo), not through the backend."""
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def later(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


# ---- signing with each accepted key spec -----------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "algorithm", "key_type"),
    [
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", rsa.RSAPublicKey),
        ("ECC_NIST_P256", "ECDSA_SHA_256", ec.EllipticCurvePublicKey),
    ],
)
def test_cookies_signed_in_kms_pass_the_verifier(
    kms: Any, spec: str, algorithm: str, key_type: type
) -> None:
    key_id = create_key(kms, spec)
    backend = KMSBackend(key_id, client=kms)
    assert (backend.key_spec, backend.signing_algorithm) == (spec, algorithm)
    signer = Signer(KEY_PAIR_ID, backend)
    assert signer.hash_algorithm == "SHA256"
    cookies = signer.sign_cookies(VIDEOS, expires=later())
    assert set(cookies) == {
        "CloudFront-Policy",
        "CloudFront-Signature",
        "CloudFront-Key-Pair-Id",
        "CloudFront-Hash-Algorithm",
    }
    assert cookies["CloudFront-Hash-Algorithm"] == "SHA256"

    independent = kms_public_key(kms, key_id)
    assert isinstance(independent, key_type)
    for public_key in (backend.public_key(), independent):
        verifier = Verifier({KEY_PAIR_ID: public_key})
        decision = verifier.check_cookies(INSIDE, cookies)
        assert decision.allowed, decision.reason
        refused = verifier.check_cookies(OUTSIDE, cookies)
        assert (refused.allowed, refused.code) == (False, "AccessDenied"), refused.reason
        assert "does not cover" in refused.reason

    signed = signer.sign_url(INSIDE, expires=later())
    assert signed.endswith(f"&Key-Pair-Id={KEY_PAIR_ID}&Hash-Algorithm=SHA256")
    verifier = Verifier({KEY_PAIR_ID: independent})
    assert verifier.check_url(signed).allowed
    assert verifier.check_url(signed.replace("/a.mp4", "/b.mp4")).code == "AccessDenied"


def test_the_signature_is_what_kms_documents(kms: Any) -> None:
    """Checked with cryptography directly, not the Verifier: PKCS#1 v1.5 with SHA-256 for RSA,
    a DER-encoded (r, s) pair with SHA-256 for ECDSA, over the policy bytes."""
    message = b'{"Statement":[{"Resource":"https://media.example.com/a.mp4"}]}'
    rsa_backend = KMSBackend(create_key(kms, "RSA_2048"), client=kms)
    signature = rsa_backend.sign(message)
    assert len(signature) == 256
    kms_public_key(kms, rsa_backend.key_arn).verify(
        signature, message, padding.PKCS1v15(), hashes.SHA256()
    )
    ec_backend = KMSBackend(create_key(kms, "ECC_NIST_P256"), client=kms)
    signature = ec_backend.sign(message)
    r, s = utils.decode_dss_signature(signature)  # raises unless DER
    assert utils.encode_dss_signature(r, s) == signature
    kms_public_key(kms, ec_backend.key_arn).verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_an_alias_is_resolved_once_and_named_in_repr(kms: Any) -> None:
    first = create_key(kms, "RSA_2048")
    kms.create_alias(AliasName="alias/cloudfront", TargetKeyId=first)
    backend = KMSBackend("alias/cloudfront", client=kms)
    signer = Signer(KEY_PAIR_ID, backend)
    assert repr(backend) == "KMSBackend('alias/cloudfront')"
    assert repr(signer) == (
        f"Signer(key_pair_id='{KEY_PAIR_ID}', key=KMSBackend('alias/cloudfront'), "
        "hash_algorithm='SHA256')"
    )
    # The alias moves to another key: signatures must still match the public key read above.
    kms.update_alias(AliasName="alias/cloudfront", TargetKeyId=create_key(kms, "RSA_2048"))
    cookies = signer.sign_cookies(VIDEOS, expires=later())
    verifier = Verifier({KEY_PAIR_ID: kms_public_key(kms, first)})
    assert verifier.check_cookies(INSIDE, cookies).allowed


def test_larger_rsa_keys_sign_for_a_legacy_key_pair_only(kms: Any) -> None:
    """Key groups take RSA-2048 only; a legacy account key pair (APKA...) could be RSA-4096."""
    backend = KMSBackend(create_key(kms, "RSA_4096"), client=kms)
    with pytest.raises(ConfigurationError, match=r"^private_key: RSA-4096 is not accepted by"):
        Signer(KEY_PAIR_ID, backend)
    legacy = "APKAEIBAERJR2EXAMPLE"
    cookies = Signer(legacy, backend).sign_cookies(VIDEOS, expires=later())
    assert Verifier({legacy: backend.public_key()}).check_cookies(INSIDE, cookies).allowed


# ---- messages over KMS's 4096-byte RAW limit ------------------------------------------------
class DigestKMS:
    """A stand-in client for the one request moto cannot serve: moto does not implement
    ``MessageType="DIGEST"``. As KMS documents it, the message is then a SHA-256 digest that
    KMS signs without hashing again; the stand-in does that with a local key."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        self.requests: list[dict[str, Any]] = []

    def describe_key(self, KeyId: str) -> dict[str, Any]:
        metadata = {"Arn": f"arn:aws:kms:{REGION}:123456789012:key/{KeyId}", "KeyState": "Enabled"}
        return {"KeyMetadata": {**metadata, "KeyUsage": "SIGN_VERIFY", "KeySpec": "RSA_2048"}}

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"PublicKey": der}

    def sign(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        assert request["SigningAlgorithm"] == "RSASSA_PKCS1_V1_5_SHA_256"
        prehashed = utils.Prehashed(hashes.SHA256())
        if request["MessageType"] == "DIGEST":
            signature = self.key.sign(request["Message"], padding.PKCS1v15(), prehashed)
        else:
            assert len(request["Message"]) <= 4096, "KMS refuses a longer RAW message"
            signature = self.key.sign(request["Message"], padding.PKCS1v15(), hashes.SHA256())
        return {"Signature": signature}


def test_a_policy_over_4096_bytes_is_sent_as_its_digest(rsa2048: rsa.RSAPrivateKey) -> None:
    require(boto3 is not None, 'boto3 is missing: pip install -e ".[kms]"')
    client = DigestKMS(rsa2048)
    signer = Signer(KEY_PAIR_ID, KMSBackend("1234abcd", client=client))
    long_url = f"{MEDIA}/{'a' * 5000}.mp4"
    short = signer.sign_url(INSIDE, expires=later())
    # Cookies, since a signed URL this long would be over CloudFront's 8,192 bytes.
    cookies = signer.sign_cookies(long_url, expires=later(), ip_address="203.0.113.9")
    raw, digest = client.requests
    assert raw["MessageType"] == "RAW"
    assert raw["KeyId"] == f"arn:aws:kms:{REGION}:123456789012:key/1234abcd"
    assert digest["MessageType"] == "DIGEST"
    assert len(digest["Message"]) == 32
    verifier = Verifier({KEY_PAIR_ID: rsa2048.public_key()})
    assert verifier.check_url(short).allowed
    decision = verifier.check_cookies(long_url, cookies, client_ip="203.0.113.9")
    assert decision.allowed, decision.reason
    assert decision.policy is not None
    assert hashlib.sha256(decision.policy.text().encode()).digest() == digest["Message"]


# ---- the middleware and the local edge --------------------------------------------------------
def test_the_middleware_with_a_kms_signer_opens_the_edge(kms: Any, tmp_path: Path) -> None:
    backend = KMSBackend(create_key(kms, "ECC_NIST_P256"), client=kms)
    signer = Signer(KEY_PAIR_ID, backend)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"videos"]

    wrapped = CloudFrontCookieMiddleware(
        app, signer=signer, rules=[Rule("/videos/*", resource=VIDEOS)], cookie_domain=".example.com"
    )
    response = Client(wrapped).get("/videos/", base_url="https://app.example.com")
    verifier = Verifier({KEY_PAIR_ID: kms_public_key(kms, backend.key_arn)})
    cookies = assert_cloudfront_cookies(response, INSIDE, verifier=verifier)
    assert cookies["CloudFront-Hash-Algorithm"] == "SHA256"

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"the video")
    edge = Client(Edge(tmp_path, verifier), use_cookies=False)
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    # buffered, as a server reads and closes the file body
    served = edge.get("/videos/a.mp4", base_url=MEDIA, headers={"Cookie": header}, buffered=True)
    assert (served.status_code, served.data) == (200, b"the video")
    refused = edge.get("/videos/a.mp4", base_url=MEDIA)
    assert refused.status_code == 403


def test_a_sign_failure_reaches_the_middleware_and_the_response_goes_out(
    kms: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """At sign time KMS errors propagate; the core logs them and sends the response as is.
    (moto keeps signing with a key pending deletion, so botocore's Stubber plays KMS's answer.)"""
    backend = KMSBackend(create_key(kms, "RSA_2048"), client=kms)
    signer = Signer(KEY_PAIR_ID, backend)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"videos"]

    wrapped = CloudFrontCookieMiddleware(
        app, signer=signer, rules=[Rule("/videos/*", resource=VIDEOS)]
    )
    with Stubber(kms) as stub:
        stub.add_client_error("sign", "KMSInvalidStateException", "key is pending deletion")
        stub.add_client_error("sign", "KMSInvalidStateException", "key is pending deletion")
        with pytest.raises(ClientError, match="KMSInvalidStateException"):
            signer.sign(b"policy")
        response = Client(wrapped).get("/videos/", base_url=MEDIA)
        stub.assert_no_pending_responses()
    assert (response.status_code, response.data) == (200, b"videos")
    assert response.headers.getlist("Set-Cookie") == []
    assert "response sent without CloudFront cookies" in caplog.text


# ---- refusals at construction -----------------------------------------------------------------
FIX = "create an asymmetric SIGN_VERIFY key with key spec RSA_2048 or ECC_NIST_P256"


@pytest.mark.parametrize(
    ("spec", "usage", "problem"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "key usage is ENCRYPT_DECRYPT"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "key usage is ENCRYPT_DECRYPT"),
        ("HMAC_256", "GENERATE_VERIFY_MAC", "key usage is GENERATE_VERIFY_MAC"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", "does not accept key spec ECC_SECG_P256K1"),
        ("ECC_NIST_P384", "SIGN_VERIFY", "does not accept key spec ECC_NIST_P384"),
    ],
)
def test_keys_that_cannot_sign_for_cloudfront_are_refused(
    kms: Any, spec: str, usage: str, problem: str
) -> None:
    key_id = create_key(kms, spec, usage)
    with pytest.raises(ConfigurationError) as raised:
        KMSBackend(key_id, client=kms)
    message = str(raised.value)
    assert message.startswith(f"key_id: KMS key '{key_id}' cannot sign for CloudFront")
    assert problem in message
    assert FIX in message


def test_a_disabled_key_is_refused(kms: Any) -> None:
    key_id = create_key(kms, "RSA_2048")
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ConfigurationError, match=rf"KMS key '{key_id}' is Disabled.*enable it"):
        KMSBackend(key_id, client=kms)


def test_an_unknown_key_names_the_aws_error_code(kms: Any) -> None:
    with pytest.raises(ConfigurationError) as raised:
        KMSBackend("alias/not-there", client=kms)
    message = str(raised.value)
    assert "KMS refused DescribeKey for 'alias/not-there': NotFoundException" in message
    assert "check the key ID, ARN or alias" in message


def test_the_default_client_uses_region_name(kms: Any) -> None:
    key_id = create_key(kms, "RSA_2048")
    assert KMSBackend(key_id, region_name=REGION).key_arn.startswith(f"arn:aws:kms:{REGION}:")
    with pytest.raises(ConfigurationError, match="NotFoundException"):
        KMSBackend(key_id, region_name="us-west-2")  # keys are regional
    with pytest.raises(ConfigurationError, match="region_name: the given client"):
        KMSBackend(key_id, client=kms, region_name=REGION)


def test_no_credentials_region_or_endpoint_are_configuration_errors(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside moto: botocore fails before sending anything, or on the loopback interface."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigurationError, match=r"NoCredentialsError.*configure AWS credentials"):
        KMSBackend("alias/cloudfront", region_name=REGION)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match=r"NoRegionError.*pass region_name"):
        KMSBackend("alias/cloudfront")
    # Nothing listens on port 9 of the loopback interface: the connection is refused at once.
    offline = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ConfigurationError, match=r"EndpointConnectionError.*check the region"):
        KMSBackend("alias/cloudfront", client=offline)


def test_empty_key_id_and_hash_conflict(kms: Any) -> None:
    with pytest.raises(ConfigurationError, match="key_id: empty"):
        KMSBackend(" ", client=kms)
    backend = KMSBackend(create_key(kms, "RSA_2048"), client=kms)
    with pytest.raises(
        ConfigurationError, match=r"hash_algorithm: KMSBackend\(.*signs with SHA256"
    ):
        Signer(KEY_PAIR_ID, backend, hash_algorithm="SHA1")


def test_importing_without_boto3_names_the_extra() -> None:
    message = import_error_without("cfcookie_middleware.kms", "boto3")
    assert 'pip install "cfcookie-middleware[kms]"' in message
