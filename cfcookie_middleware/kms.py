"""A signing backend whose private key stays in AWS KMS: ``Signer(key_pair_id, KMSBackend(...))``.

The app's hosts then hold no key material, only the right to call ``kms:Sign``. KMS's asymmetric
``SIGN_VERIFY`` keys sign with SHA-256 only, so the backend fixes the hash and the cookies carry
``CloudFront-Hash-Algorithm=SHA256``:

- ``RSA_2048``: ``RSASSA_PKCS1_V1_5_SHA_256``, the RSA size CloudFront key groups take.
- ``ECC_NIST_P256``: ``ECDSA_SHA_256``; KMS returns the DER signature CloudFront expects.
- ``RSA_3072`` and ``RSA_4096`` sign the same way, but a key group takes only RSA-2048 public
  keys, so ``Signer`` refuses them, as it refuses such local keys; an RSA-4096 key may still sign
  for a legacy account key pair (an ``APKA...`` ID).

Everything is checked when the backend is built (key state, usage and spec, credentials, region),
so a wrong key fails at startup with a ``ConfigurationError``. A ``Sign`` call that fails later
raises botocore's exception unchanged; the middleware logs it and sends that response without
cookies.
"""

from __future__ import annotations

import hashlib
from typing import Any

try:
    import boto3
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )
except ImportError as exc:
    raise ImportError(
        'cfcookie_middleware.kms needs boto3: pip install "cfcookie-middleware[kms]"'
    ) from exc

from cfcookie_middleware.signing import ConfigurationError, VerifyingKey, load_public_key

__all__ = ["KMSBackend"]

SIGNING_ALGORITHMS = {
    "RSA_2048": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_3072": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_4096": "RSASSA_PKCS1_V1_5_SHA_256",
    "ECC_NIST_P256": "ECDSA_SHA_256",
}
"""KMS key spec -> the KMS signing algorithm that makes the signature CloudFront checks."""

_RAW_LIMIT = 4096
"""KMS signs a RAW message of at most 4096 bytes; a longer policy (a signed URL with a long
resource) is sent as its SHA-256 digest, which yields the same signature."""
_FIX = (
    "create an asymmetric SIGN_VERIFY key with key spec RSA_2048 or ECC_NIST_P256 (aws kms "
    "create-key --key-usage SIGN_VERIFY --key-spec RSA_2048) and pass its ID, ARN or alias"
)
_HINTS = {
    "NotFoundException": "check the key ID, ARN or alias (alias/...) and the region",
    "AccessDeniedException": (
        "allow kms:DescribeKey, kms:GetPublicKey and kms:Sign on this key to the app's role"
    ),
    "DisabledException": "enable the key (aws kms enable-key)",
    "KMSInvalidStateException": "the key is pending deletion or import; use an enabled key",
    "UnrecognizedClientException": "the AWS credentials are not valid; check them",
    "ExpiredTokenException": "the AWS session token expired; refresh the credentials",
}


class KMSBackend:
    """Signs CloudFront policies with an asymmetric KMS key (``key_id``: ID, ARN or alias).

    ``client`` is a boto3 KMS client (default: ``boto3.client("kms", region_name=...)``).
    The alias is resolved once: signatures always come from the key whose public key was read
    here, even if the alias is later pointed elsewhere (rotate by building a new ``Signer``).
    Each ``sign`` is one KMS request; the middleware reuses signatures within an expiry window.
    """

    __slots__ = ("_client", "_public_key", "key_arn", "key_id", "key_spec", "signing_algorithm")

    hash_algorithm = "SHA256"

    def __init__(self, key_id: str, *, client: Any = None, region_name: str | None = None) -> None:
        if not isinstance(key_id, str) or not key_id.strip():
            raise ConfigurationError(
                "key_id: empty; pass the KMS key's ID, ARN or alias, such as alias/cloudfront"
            )
        if client is not None and region_name is not None:
            raise ConfigurationError(
                "region_name: the given client already has a region; drop region_name"
            )
        self.key_id = key_id
        try:
            self._client = (
                boto3.client("kms", region_name=region_name) if client is None else client
            )
            metadata: dict[str, Any] = self._client.describe_key(KeyId=key_id)["KeyMetadata"]
            self.key_arn: str = metadata["Arn"]
            self.key_spec: str = metadata.get("KeySpec", "")
            self.signing_algorithm = self._signing_algorithm(metadata)
            der: bytes = self._client.get_public_key(KeyId=self.key_arn)["PublicKey"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Unknown")
            hint = _HINTS.get(code, "check the key and the app's AWS permissions")
            raise ConfigurationError(
                f"key_id: KMS refused {exc.operation_name} for {key_id!r}: {code} "
                f"({error.get('Message', '')}); {hint}"
            ) from None
        except BotoCoreError as exc:
            raise ConfigurationError(
                f"key_id: cannot use KMS for {key_id!r}: {type(exc).__name__} ({exc}); {_hint(exc)}"
            ) from None
        self._public_key = load_public_key(der, name=f"KMS key {key_id}")

    def _signing_algorithm(self, metadata: dict[str, Any]) -> str:
        state = metadata.get("KeyState", "")
        if state != "Enabled":
            raise ConfigurationError(
                f"key_id: KMS key {self.key_id!r} is {state}, so it cannot sign; enable it "
                "(aws kms enable-key, or cancel a scheduled deletion) or use an enabled key"
            )
        usage = metadata.get("KeyUsage", "")
        if usage != "SIGN_VERIFY":
            problem = f"its key usage is {usage} (key spec {self.key_spec}), not SIGN_VERIFY"
        elif self.key_spec not in SIGNING_ALGORITHMS:
            problem = (
                f"CloudFront does not accept key spec {self.key_spec} (it takes RSA and ECDSA "
                "P-256, which is ECC_NIST_P256, not ECC_SECG_P256K1)"
            )
        else:
            return SIGNING_ALGORITHMS[self.key_spec]
        raise ConfigurationError(
            f"key_id: KMS key {self.key_id!r} cannot sign for CloudFront: {problem}; {_FIX}"
        )

    def sign(self, message: bytes) -> bytes:
        """One KMS ``Sign`` request; botocore's exceptions propagate."""
        kind = "RAW"
        if len(message) > _RAW_LIMIT:
            message, kind = hashlib.sha256(message).digest(), "DIGEST"
        response = self._client.sign(
            KeyId=self.key_arn,
            Message=message,
            MessageType=kind,
            SigningAlgorithm=self.signing_algorithm,
        )
        signature: bytes = response["Signature"]
        return signature

    def public_key(self) -> VerifyingKey:
        """The public key KMS gave at construction, for a ``Verifier`` or a CloudFront key group."""
        return self._public_key

    def __repr__(self) -> str:
        return f"KMSBackend({self.key_id!r})"


def _hint(exc: BotoCoreError) -> str:
    if isinstance(exc, NoCredentialsError):
        return (
            "configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or an instance or task role)"
        )
    if isinstance(exc, NoRegionError):
        return "pass region_name='us-east-1' (say) or set AWS_DEFAULT_REGION"
    if isinstance(exc, EndpointConnectionError):
        return "check the region and the network (or the VPC endpoint for KMS)"
    return "check the AWS configuration of this host"
