"""CloudFront signed cookies and signed URLs: keys, policies, CloudFront's base64 and signatures.

This module is the one place that produces signatures. It imports nothing but ``cryptography`` and
the standard library so the verifier, the middleware and the command line all share the same bytes,
and so the bytes can be checked against AWS's published vectors and SDKs.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

__all__ = [
    "MAX_EPOCH",
    "MAX_REQUEST_BYTES",
    "MAX_URL_BYTES",
    "SIGNED_URL_PARAMS",
    "ConfigurationError",
    "HashAlgorithm",
    "LocalKey",
    "Policy",
    "Signer",
    "SigningBackend",
    "When",
    "b64decode",
    "b64encode",
    "canned_policy",
    "check_signer_works",
    "custom_policy",
    "is_canned",
    "key_size_problem",
    "load_private_key",
    "load_public_key",
    "policy_text",
    "resource_covers",
    "signature_matches",
    "to_epoch",
    "validate_ip_network",
    "validate_resource",
]

MAX_EPOCH = 2**31 - 1
"""CloudFront reads epoch times as signed 32-bit seconds: 2038-01-19T03:14:07Z is the last."""
MAX_URL_BYTES, MAX_REQUEST_BYTES = 8192, 20480
"""CloudFront's limits on a URL, and on a whole request (URL and headers)."""

HashAlgorithm = Literal["SHA1", "SHA256"]
When: TypeAlias = datetime | timedelta | int
"""An aware datetime, a duration from now, or integer Unix epoch seconds."""
SigningKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
VerifyingKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKeySource: TypeAlias = "str | bytes | os.PathLike[str] | SigningKey"
PublicKeySource: TypeAlias = "str | bytes | os.PathLike[str] | VerifyingKey"

HASHES: dict[str, hashes.HashAlgorithm] = {"SHA1": hashes.SHA1(), "SHA256": hashes.SHA256()}  # noqa: S303
_PKCS1 = padding.PKCS1v15()
_TO_CLOUDFRONT = bytes.maketrans(b"+=/", b"-_~")
_FROM_CLOUDFRONT = bytes.maketrans(b"-_~", b"+=/")
_KEY_ID = re.compile(r"[A-Z0-9]+")
_ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{12,}")
# Characters the AWS CLI refuses in a policy resource; rejecting beats escaping (the published
# vectors say so) because CloudFront compares the raw request URL with the policy text.
_BAD_RESOURCE_CHAR = re.compile(r'["\\#\s\x00-\x1f\x7f-\U0010ffff]')
_SCHEME = re.compile(r"(https?|http\*)://", re.IGNORECASE)
# Both checks above in one pass, for the common case of a valid resource. Case is ignored on the
# scheme only, and the ASCII way: Unicode folding would let 's' match U+017F and 'k' U+212A.
_VALID_RESOURCE = re.compile(r'(?ai:https?|http\*)://[^"\\#\s\x00-\x1f\x7f-\U0010ffff]*')
SIGNED_URL_PARAMS = ("Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm")
# Those names as cookies and as query parameters, joined once rather than per signature.
_FIELD_NAMES = {p: tuple(p + name for name in SIGNED_URL_PARAMS) for p in ("CloudFront-", "")}
_MIN_RSA_BITS, _MAX_RSA_BITS = 1024, 4096
# The largest plausible epoch in seconds; anything past 10**11 (year 5138) is milliseconds.
_MILLISECOND_EPOCH = 10**11
_EARLIEST_POLICY_EPOCH = 946_684_800
"""2000-01-01T00:00:00Z: a policy time as an int below it is a duration passed as a time."""
# A mistyped input made only of base64 (or CloudFront base64) characters and this long may be key
# material or a secret access key: error messages describe it instead of echoing it.
_SECRET_LIKE = re.compile(r"[A-Za-z0-9+/=_~\\\s-]{40,}")


class ConfigurationError(ValueError):
    """An input CloudFront cannot use; the message names the input and the fix."""


def b64encode(data: bytes) -> str:
    """CloudFront's URL- and cookie-safe base64: ``+`` -> ``-``, ``=`` -> ``_``, ``/`` -> ``~``."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_CLOUDFRONT).decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of :func:`b64encode`; raises ``ValueError`` on anything that is not its output."""
    raw = text.encode("ascii").translate(_FROM_CLOUDFRONT)
    return base64.b64decode(raw, validate=True)


def to_epoch(value: When, *, name: str, now: float | None = None) -> int:
    """Turn a ``When`` into integer epoch seconds, refusing the classic time-zone and unit slips."""
    if type(value) is int and 0 <= value <= MAX_EPOCH:  # the common case, checked in one step
        return value
    if isinstance(value, bool) or not isinstance(value, (datetime, timedelta, int)):
        raise ConfigurationError(
            f"{name}: expected an aware datetime, a timedelta or int epoch seconds, "
            f"got {type(value).__name__}; for a float epoch pass int(value)"
        )
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ConfigurationError(
                f"{name}: naive datetime {value.isoformat()} has no time zone and would be read in "
                "the host's local time; use datetime.now(timezone.utc) + timedelta(...) or pass "
                "a timedelta"
            )
        epoch = int(value.timestamp())
    elif isinstance(value, timedelta):
        epoch = int((time.time() if now is None else now) + value.total_seconds())
    else:
        epoch = value
    if epoch >= _MILLISECOND_EPOCH:
        raise ConfigurationError(
            f"{name}: {epoch} looks like milliseconds; CloudFront wants epoch seconds "
            "(divide by 1000)"
        )
    if epoch > MAX_EPOCH:
        raise ConfigurationError(
            f"{name}: {epoch} is after 2038-01-19T03:14:07Z, the last time CloudFront accepts "
            f"(epoch {MAX_EPOCH}); choose an earlier time"
        )
    if epoch < 0:
        raise ConfigurationError(f"{name}: {epoch} is before 1970; pass a time after the epoch")
    return epoch


def _policy_epoch(value: When, name: str, now: float) -> int:
    """A policy time as ``to_epoch`` reads it, but an int before 2000 is refused as what it
    almost always is: a duration (``expires=3600`` meant as an hour signs a policy for 1970)."""
    if type(value) is int and 0 <= value < _EARLIEST_POLICY_EPOCH:
        raise ConfigurationError(
            f"{name}: {value} is epoch seconds in the 1970s and looks like a duration; for a time "
            f"from now pass timedelta(seconds={value}) (on the command line: {value}s)"
        )
    return to_epoch(value, name=name, now=now)


def validate_resource(resource: str, *, name: str = "resource") -> str:
    """Check a policy resource or URL the way the AWS CLI does and return it unchanged."""
    if isinstance(resource, str) and _VALID_RESOURCE.fullmatch(resource):
        return resource
    if not isinstance(resource, str):
        raise ConfigurationError(f"{name}: expected a URL string, got {type(resource).__name__}")
    if not _SCHEME.match(resource):
        raise ConfigurationError(
            f"{name}: {resource[:200]!r} must start with https:// or http:// "
            "(the URL viewers request from CloudFront, such as https://media.example.com/videos/*)"
        )
    bad = _BAD_RESOURCE_CHAR.search(resource)
    if bad:
        raise ConfigurationError(
            f"{name}: {bad.group()!r} at position {bad.start()} is not allowed in a CloudFront "
            "policy resource (no quotes, backslashes, spaces, control or non-ASCII characters, "
            "no '#'); percent-encode the URL as the browser will request it"
        )
    return resource


def validate_ip_network(value: object, *, name: str = "ip_address") -> str:
    """Return an IPv4 address or CIDR as CloudFront's ``a.b.c.d/n`` text."""
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise ConfigurationError(
            f"{name}: {str(value)[:60]!r} is not an IPv4 address or CIDR block such as "
            "203.0.113.9 or 203.0.113.0/24 (a CIDR block must have its host bits zero)"
        ) from None
    if network.version != 4:
        raise ConfigurationError(
            f"{name}: {value} is IPv6; CloudFront policies accept IPv4 only "
            "(leave the IP condition out for IPv6 viewers)"
        )
    return str(network.with_prefixlen)


def viewer_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A client address as CloudFront sees the viewer: an IPv4-mapped one (``::ffff:a.b.c.d``,
    what a dual-stack socket reports for an IPv4 viewer) is that IPv4 address. ``ValueError``
    when ``text`` is not an address."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_canned(resource: str, not_before: int | None, ip_network: str | None) -> bool:
    """Whether these terms make a canned policy, as the AWS CLI decides: one exact URL, no
    start time, no IP range."""
    return "*" not in resource and not_before is None and ip_network is None


def canned_policy(resource: str, expires: int) -> str:
    """The exact policy bytes CloudFront rebuilds for a canned-policy request."""
    return (
        '{"Statement":[{"Resource":"' + resource + '","Condition":{"DateLessThan":'
        '{"AWS:EpochTime":' + str(expires) + "}}}]}"
    )


def custom_policy(
    resource: str, expires: int, not_before: int | None = None, ip_network: str | None = None
) -> str:
    """A compact custom policy, conditions ordered as botocore and the published vectors.

    Built as text rather than with ``json.dumps`` (five times slower): a checked resource has
    nothing JSON would escape, so the bytes are the same.
    """
    condition = '{"DateLessThan":{"AWS:EpochTime":' + str(expires) + "}"
    if ip_network is not None:
        condition += ',"IpAddress":{"AWS:SourceIp":"' + ip_network + '"}'
    if not_before is not None:
        condition += ',"DateGreaterThan":{"AWS:EpochTime":' + str(not_before) + "}"
    return '{"Statement":[{"Resource":"' + resource + '","Condition":' + condition + "}}]}"


def policy_text(
    resource: str, expires: int, not_before: int | None, ip_network: str | None, *, canned: bool
) -> str:
    """The policy bytes that get signed for these terms: ``canned_policy`` when ``canned``
    (see ``is_canned``), else ``custom_policy``."""
    if canned:
        return canned_policy(resource, expires)
    return custom_policy(resource, expires, not_before, ip_network)


def resource_covers(resource: str, url: str) -> bool:
    """CloudFront's resource match over the whole URL: ``*`` any run, ``?`` one character, all
    else literal (``[`` too, unlike fnmatch). Greedy with one backtrack point: O(len * len) at
    worst, never exponential like a regex of many ``.*``."""
    p = t = 0
    star, mark = -1, 0
    while t < len(url):
        # A `*` is a wildcard first, even facing a literal `*` in the URL (a legal path byte).
        if p < len(resource) and resource[p] == "*":
            star, mark, p = p, t, p + 1
        elif p < len(resource) and resource[p] in ("?", url[t]):
            p, t = p + 1, t + 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    return resource[p:].strip("*") == ""


@dataclass(frozen=True)
class Policy:
    """The terms of one grant; hashable, so equal terms can share one signature."""

    resource: str
    expires: int
    not_before: int | None = None
    ip_network: str | None = None
    custom: bool = False
    """Sign a custom policy even for one exact URL with no condition but the expiry: needed
    when the resource is not the URL the viewer requests (``sign_url``'s ``resource``), since
    CloudFront rebuilds a canned policy from the request URL."""

    @classmethod
    def build(
        cls,
        resource: str,
        *,
        expires: When,
        not_before: When | None = None,
        ip_address: object = None,
        name: str = "resource",
    ) -> Policy:
        """Check every input the way the AWS CLI does and normalize times and the IP range."""
        validate_resource(resource, name=name)
        now = time.time()
        if isinstance(expires, timedelta) and expires <= timedelta(0):
            raise ConfigurationError(
                f"expires: timedelta({expires}) is not in the future, so the policy would have "
                "expired when it was signed; pass a positive timedelta such as timedelta(hours=1)"
            )
        expires_at = _policy_epoch(expires, name="expires", now=now)
        starts_at = None if not_before is None else _policy_epoch(not_before, "not_before", now)
        if starts_at is not None and starts_at >= expires_at:
            raise ConfigurationError(
                f"not_before: {starts_at} is not before expires {expires_at}; "
                "the policy would never be valid"
            )
        network = None if ip_address is None else validate_ip_network(ip_address)
        return cls(resource, expires_at, starts_at, network)

    @property
    def canned(self) -> bool:
        """Canned as the AWS CLI decides (``is_canned``), unless made ``custom``."""
        return not self.custom and is_canned(self.resource, self.not_before, self.ip_network)

    @classmethod
    def from_text(cls, text: str | bytes) -> Policy:
        """Read policy JSON as strictly as CloudFront: one statement, integer epoch seconds,
        an IPv4 range; ``ValueError`` says what is malformed. A missing ``Resource`` (which
        CloudFront reads as every file) becomes ``"*"``."""
        try:
            # Bytes are UTF-8 or nothing: json.loads would also take UTF-16, a BOM, or a
            # surrogate encoded in three bytes, none of which is JSON text (RFC 8259 8.1).
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            document = json.loads(text, object_pairs_hook=_unique_keys)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"policy is not JSON: {exc}"[:200]) from None
        if not isinstance(document, dict) or set(document) != {"Statement"}:
            raise ValueError("policy must be an object with only a Statement list")
        statements = document["Statement"]
        if not isinstance(statements, list) or len(statements) != 1:
            raise ValueError("policy must have a Statement list with exactly one statement")
        statement = statements[0]
        if not isinstance(statement, dict) or not isinstance(statement.get("Condition"), dict):
            raise ValueError("policy statement has no Condition object")
        if set(statement) - {"Resource", "Condition"}:
            raise ValueError(f"policy statement has unexpected fields {sorted(statement)}")
        resource = statement.get("Resource", "*")
        if not isinstance(resource, str):
            raise ValueError("policy Resource must be a string")
        condition: dict[str, object] = statement["Condition"]
        unknown = set(condition) - {"DateLessThan", "DateGreaterThan", "IpAddress"}
        if unknown:
            raise ValueError(f"policy has unknown conditions {sorted(unknown)}")
        if "DateLessThan" not in condition:
            raise ValueError("policy has no DateLessThan condition")
        network = None
        if "IpAddress" in condition:
            source = _only_value(condition["IpAddress"], "AWS:SourceIp")
            try:
                network = validate_ip_network(source, name="AWS:SourceIp")
            except ConfigurationError as exc:
                raise ValueError(f"policy {exc}") from None
        not_before = (
            _epoch_field(condition["DateGreaterThan"], "DateGreaterThan")
            if "DateGreaterThan" in condition
            else None
        )
        expires = _epoch_field(condition["DateLessThan"], "DateLessThan")
        policy = cls(resource, expires, not_before, network)
        # It was a custom policy, and stays one where its terms alone would read as canned
        # (the text is the same; signing it again gives a Policy field, not Expires).
        return replace(policy, custom=True) if policy.canned else policy

    def text(self) -> str:
        """The policy JSON that gets signed."""
        return policy_text(
            self.resource, self.expires, self.not_before, self.ip_network, canned=self.canned
        )


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refusing repeated keys (which reader wins would be a guess)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("repeated key in a JSON object")
    return document


def _only_value(value: object, key: str) -> object:
    if not isinstance(value, dict) or set(value) != {key}:
        raise ValueError(f"policy condition must be an object with exactly {key}")
    return value[key]


def _epoch_field(value: object, condition: str) -> int:
    epoch = _only_value(value, "AWS:EpochTime")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ValueError(f"policy {condition} must be integer epoch seconds, got {epoch!r:.40}")
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(
            f"policy {condition} {epoch} is outside 0..{MAX_EPOCH} (milliseconds instead of "
            "seconds?)"
        )
    return epoch


def _read_key_source(source: str | bytes | os.PathLike[str], *, name: str, kind: str) -> bytes:
    """Key bytes from PEM text, DER or PEM bytes, or a file path (never echoing key material)."""
    if isinstance(source, bytes):
        return source
    if not isinstance(source, (str, os.PathLike)):  # None, or a key object of the wrong kind
        raise ConfigurationError(
            f"{name}: got {type(source).__name__.lstrip('_')}; pass the key file's path, its PEM "
            f"text, DER bytes or an RSA or ECDSA P-256 {kind} key object"
        )
    if isinstance(source, str) and "-----BEGIN" in source:
        # Environment variables often carry the PEM with literal "\n" escapes.
        return source.replace("\\n", "\n").encode("ascii", "replace")
    shown = _shown(os.fspath(source))
    try:
        data = Path(source).read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"{name}: {shown} is neither PEM text (no -----BEGIN line) nor an existing file; "
            "pass the path of the .pem file or its contents"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{name}: cannot read {shown} ({exc.strerror}); check the path and its permissions"
        ) from None
    except ValueError:  # a NUL character, as in DER bytes decoded to str
        raise ConfigurationError(
            f"{name}: {shown} is neither PEM text nor a file path; pass the path of the .pem "
            "file, its text, or DER bytes"
        ) from None
    if b"-----BEGIN" in data and b"\\n" in data:
        # A file written from an environment variable's value: read as the variable is.
        return data.replace(b"\\n", b"\n")
    return data


def _shown(value: str) -> str:
    """An input's ``repr`` for an error message, or a description when it could be a secret."""
    if len(value) > 255 or not value.isprintable() or _SECRET_LIKE.fullmatch(value):
        return f"the given {len(value)}-character value (not shown: it may be key material)"
    return repr(value)


def _check_key_type(key: object, *, name: str, private: bool) -> None:
    kind = "private" if private else "public"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if not _MIN_RSA_BITS <= key.key_size <= _MAX_RSA_BITS:
            raise ConfigurationError(
                f"{name}: RSA-{key.key_size} is not accepted by CloudFront; use an RSA key of "
                "1024 to 4096 bits (key groups take RSA-2048)"
            )
        return
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError(
                f"{name}: ECDSA curve {key.curve.name} is not accepted by CloudFront; "
                "use an ECDSA P-256 (prime256v1) key"
            )
        return
    raise ConfigurationError(
        f"{name}: a {type(key).__name__.lstrip('_')} key cannot sign for CloudFront; "
        f"use an RSA (2048-bit) or ECDSA P-256 {kind} key"
    )


def load_private_key(
    source: PrivateKeySource, *, passphrase: str | bytes | None = None, name: str = "private_key"
) -> SigningKey:
    """Load an RSA or ECDSA P-256 private key from a path, PEM/DER text or a key object."""
    if isinstance(source, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        _check_key_type(source, name=name, private=True)
        return source
    data = _read_key_source(source, name=name, kind="private")
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        raise ConfigurationError(
            f"{name}: this is an OpenSSH-format key, which CloudFront's tools do not read; "
            "convert a copy to PEM with `ssh-keygen -p -N '' -m PEM -f COPY_OF_KEY` (it asks "
            "for the old passphrase), or make a new key with `cfcookie keygen`"
        )
    if b"PUBLIC KEY-----" in data or b"CERTIFICATE-----" in data:
        raise ConfigurationError(
            f"{name}: this is a public key; signing needs the private key (the public key is "
            "the one you upload to the CloudFront key group)"
        )
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        key: PrivateKeyTypes = loader(data, password=password)
    except TypeError:
        if password is None:
            raise ConfigurationError(
                f"{name}: the key is encrypted; pass passphrase=... (or --passphrase / "
                "CLOUDFRONT_PRIVATE_KEY_PASSPHRASE)"
            ) from None
        raise ConfigurationError(
            f"{name}: a passphrase was given but the key is not encrypted; drop the passphrase"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        hint = "the passphrase is wrong or " if password is not None else ""
        raise ConfigurationError(
            f"{name}: could not load a private key: {hint}the data is not a PEM/DER RSA or "
            "ECDSA key (PKCS#1, PKCS#8 and SEC1 PEM files are accepted)"
        ) from None
    _check_key_type(key, name=name, private=True)
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    return key


def load_public_key(source: PublicKeySource, *, name: str = "public_key") -> VerifyingKey:
    """Load an RSA or ECDSA P-256 public key from a path, PEM/DER text or a key object."""
    if isinstance(source, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        _check_key_type(source, name=name, private=False)
        return source
    data = _read_key_source(source, name=name, kind="public")
    if b"PRIVATE KEY-----" in data:
        raise ConfigurationError(
            f"{name}: this is a private key; give the public key (derive it with "
            "`openssl pkey -pubout`); a verifier never needs the private key"
        )
    loader = (
        serialization.load_pem_public_key
        if b"-----BEGIN" in data
        else serialization.load_der_public_key
    )
    try:
        key: PublicKeyTypes = loader(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"{name}: could not load a public key; expected a PEM or DER RSA or ECDSA P-256 "
            "public key (-----BEGIN PUBLIC KEY-----)"
        ) from None
    _check_key_type(key, name=name, private=False)
    assert isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))
    return key


def validate_key_pair_id(key_pair_id: object) -> str:
    """Check the ID's shape and catch the usual mix-ups without echoing what may be a secret."""
    if not isinstance(key_pair_id, str) or not key_pair_id.strip():
        raise ConfigurationError(
            "key_pair_id: empty; pass the ID of the public key in CloudFront, such as "
            "K2JCJMDEHXQW5F (CloudFront console > Key management > Public keys)"
        )
    if "-----BEGIN" in key_pair_id or "KEY-----" in key_pair_id:
        raise ConfigurationError(
            "key_pair_id: this is a PEM key, not its ID; pass the key there as private_key and "
            "the public key's ID (such as K2JCJMDEHXQW5F) as key_pair_id"
        )
    if _looks_like_uuid(key_pair_id):
        raise ConfigurationError(
            "key_pair_id: this looks like a key group ID (a UUID); pass the ID of the public "
            "key inside the group, such as K2JCJMDEHXQW5F"
        )
    if _ACCESS_KEY_ID.fullmatch(key_pair_id):
        raise ConfigurationError(
            "key_pair_id: this looks like an IAM access key ID (AKIA.../ASIA...); pass the ID "
            "of the CloudFront public key, such as K2JCJMDEHXQW5F"
        )
    if not _KEY_ID.fullmatch(key_pair_id):
        raise ConfigurationError(
            f"key_pair_id: {_shown(key_pair_id)} is not a CloudFront key ID (upper-case letters "
            "and digits, such as K2JCJMDEHXQW5F or APKA...); check for spaces and lower case"
        )
    return key_pair_id


def _looks_like_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return "-" in text


def _backend_hash(
    backend: SigningBackend, hash_algorithm: str | None, passphrase: object
) -> HashAlgorithm:
    """The hash a signing backend names, which overrides any other choice."""
    if passphrase is not None:
        raise ConfigurationError("passphrase: a signing backend keeps its own key; drop it")
    if not isinstance(backend.hash_algorithm, str):
        raise ConfigurationError(
            f"private_key: {backend!r} must name its hash_algorithm ('SHA1' or 'SHA256')"
        )
    backend_hash = _parse_hash(backend.hash_algorithm, None)
    if hash_algorithm is not None and _parse_hash(hash_algorithm, None) != backend_hash:
        raise ConfigurationError(
            f"hash_algorithm: {backend!r} signs with {backend_hash}; drop hash_algorithm (the "
            "backend's algorithm decides)"
        )
    return backend_hash


def _parse_hash(value: str | None, key: SigningKey | None) -> HashAlgorithm:
    if value is None:
        return "SHA256" if isinstance(key, ec.EllipticCurvePrivateKey) else "SHA1"
    normalized = str(value).upper().replace("-", "")
    if normalized == "SHA1":
        return "SHA1"
    if normalized == "SHA256":
        return "SHA256"
    raise ConfigurationError(
        f"hash_algorithm: {str(value)[:20]!r} is not supported; use 'SHA1' (RSA default) or "
        "'SHA256'"
    )


def _key_description(key: SigningKey | VerifyingKey) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"RSA-{key.key_size}"
    return "ECDSA-P256"


@runtime_checkable
class SigningBackend(Protocol):
    """Signs with a key kept elsewhere (a KMS, an HSM): give one to ``Signer`` instead of a
    private key. ``hash_algorithm`` is what it signs with (``"SHA1"`` or ``"SHA256"``), so the
    cookies can name it; ``sign`` returns a PKCS#1 v1.5 (RSA) or DER (ECDSA) signature."""

    @property
    def hash_algorithm(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def public_key(self) -> VerifyingKey: ...


def signature_matches(
    key: VerifyingKey, signature: bytes, data: bytes, hash_algorithm: str
) -> bool:
    """Whether ``signature`` is ``key``'s CloudFront signature over ``data`` (PKCS#1 v1.5 for
    RSA, DER for ECDSA) with ``hash_algorithm`` (``"SHA1"`` or ``"SHA256"``)."""
    digest = HASHES[hash_algorithm]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, _PKCS1, digest)
        else:
            key.verify(signature, data, ec.ECDSA(digest))
    except InvalidSignature:
        return False
    return True


class LocalKey:
    """The ``SigningBackend`` for a private key held in this process."""

    __slots__ = ("_arguments", "_key", "_public_key", "hash_algorithm")

    def __init__(self, key: SigningKey, hash_algorithm: HashAlgorithm) -> None:
        self._key = key
        self._public_key = key.public_key()
        self.hash_algorithm = hash_algorithm
        digest = HASHES[hash_algorithm]
        # The key's sign() arguments, fixed once: RSA takes (padding, hash), ECDSA (ECDSA(hash),).
        self._arguments: (
            tuple[padding.AsymmetricPadding, hashes.HashAlgorithm] | tuple[ec.ECDSA]
        ) = (_PKCS1, digest) if isinstance(key, rsa.RSAPrivateKey) else (ec.ECDSA(digest),)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, *self._arguments)

    def public_key(self) -> VerifyingKey:
        return self._public_key

    def __repr__(self) -> str:
        return _key_description(self._key)


def key_size_problem(key_pair_id: str, key: VerifyingKey) -> str | None:
    """Why CloudFront would refuse this public key under this ID, or ``None``: key groups take
    RSA-2048 and ECDSA P-256 only; legacy account key pairs (IDs ``APKA...``) were RSA of 1024,
    2048 or 4096 bits."""
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size == 2048:
        return None
    if key_pair_id.startswith("APKA") and key.key_size in (1024, 4096):
        return None
    return (
        f"RSA-{key.key_size} is not accepted by CloudFront key groups, which take RSA-2048 or "
        "ECDSA P-256 public keys; make one with `cfcookie keygen` (or openssl genrsa -out "
        "key.pem 2048) and upload its public key (only a legacy account key pair, an APKA... "
        "ID, may keep an RSA-1024 or RSA-4096 key)"
    )


class Signer:
    """Signs CloudFront policies with one key pair; cheap to share across threads.

    ``private_key`` is a path, PEM/DER text or bytes, a ``cryptography`` key object, or a
    ``SigningBackend`` (such as ``cfcookie_middleware.kms.KMSBackend``), which then fixes the hash.
    """

    __slots__ = ("_backend", "hash_algorithm", "key_pair_id")

    def __init__(
        self,
        key_pair_id: str,
        private_key: PrivateKeySource | SigningBackend,
        *,
        hash_algorithm: str | None = None,
        passphrase: str | bytes | None = None,
    ) -> None:
        self.key_pair_id: str = validate_key_pair_id(key_pair_id)
        self._backend: SigningBackend
        if isinstance(private_key, SigningBackend):
            self.hash_algorithm: HashAlgorithm = _backend_hash(
                private_key, hash_algorithm, passphrase
            )
            self._backend = private_key
        else:
            key = load_private_key(private_key, passphrase=passphrase)
            self.hash_algorithm = _parse_hash(hash_algorithm, key)
            self._backend = LocalKey(key, self.hash_algorithm)
        public_key = self._backend.public_key()
        problem = key_size_problem(self.key_pair_id, public_key)
        # RSA-1024 goes through (``cfcookie doctor`` reports it): AWS's own cross-SDK test
        # vectors sign with an RSA-1024 key under a key-group-style ID.
        if problem is not None and public_key.key_size != 1024:
            raise ConfigurationError(f"private_key: {problem}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Signer:
        """Build from ``CLOUDFRONT_KEY_PAIR_ID`` and ``CLOUDFRONT_PRIVATE_KEY`` (PEM text) or
        ``CLOUDFRONT_PRIVATE_KEY_FILE``, with optional ``CLOUDFRONT_HASH_ALGORITHM`` and
        ``CLOUDFRONT_PRIVATE_KEY_PASSPHRASE``."""
        env = os.environ if environ is None else environ
        key_pair_id = env.get("CLOUDFRONT_KEY_PAIR_ID", "")
        if not key_pair_id:
            raise ConfigurationError(
                "CLOUDFRONT_KEY_PAIR_ID: not set; export the ID of the CloudFront public key"
            )
        pem, path = env.get("CLOUDFRONT_PRIVATE_KEY"), env.get("CLOUDFRONT_PRIVATE_KEY_FILE")
        if pem and path:
            raise ConfigurationError(
                "CLOUDFRONT_PRIVATE_KEY and CLOUDFRONT_PRIVATE_KEY_FILE are both set; keep one"
            )
        if pem:
            if "-----BEGIN" not in pem:
                raise ConfigurationError(
                    "CLOUDFRONT_PRIVATE_KEY: not PEM text (no -----BEGIN line); put the PEM "
                    "itself there, or the file's path in CLOUDFRONT_PRIVATE_KEY_FILE"
                )
            source: PrivateKeySource = pem
        elif path:
            source = Path(path)
        else:
            raise ConfigurationError(
                "CLOUDFRONT_PRIVATE_KEY: not set; export the PEM text, or the file's path as "
                "CLOUDFRONT_PRIVATE_KEY_FILE"
            )
        return cls(
            key_pair_id,
            source,
            hash_algorithm=env.get("CLOUDFRONT_HASH_ALGORITHM") or None,
            passphrase=env.get("CLOUDFRONT_PRIVATE_KEY_PASSPHRASE") or None,
        )

    def __repr__(self) -> str:
        return (
            f"Signer(key_pair_id={self.key_pair_id!r}, key={self._backend!r}, "
            f"hash_algorithm={self.hash_algorithm!r})"
        )

    @property
    def public_key(self) -> VerifyingKey:
        """The public half, for a ``Verifier`` or to upload to a CloudFront key group."""
        return self._backend.public_key()

    def sign(self, message: bytes) -> bytes:
        """The raw signature over ``message`` (PKCS#1 v1.5 for RSA, DER for ECDSA)."""
        return self._backend.sign(message)

    @property
    def backend(self) -> SigningBackend:
        """What signs: a ``LocalKey`` for a key in this process, else the backend given (which
        may wait on I/O, so async adapters call it from a worker thread)."""
        return self._backend

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether this key made ``signature`` over ``message``: ECDSA signatures differ each
        time, so a set this key issued earlier (or in another process) is checked, not
        re-signed."""
        return signature_matches(self.public_key, signature, message, self.hash_algorithm)

    def sign_cookies(
        self,
        resource: str,
        *,
        expires: When,
        not_before: When | None = None,
        ip_address: str | None = None,
    ) -> dict[str, str]:
        """The ``CloudFront-*`` cookie values granting access to ``resource`` until ``expires``.

        A canned policy (``CloudFront-Expires``) covers exactly one URL; a ``*`` in the resource,
        a start time or an IP range makes a custom policy (``CloudFront-Policy``).
        """
        policy = Policy.build(
            resource, expires=expires, not_before=not_before, ip_address=ip_address
        )
        return self.sign_policy(policy)

    def sign_url(
        self,
        url: str,
        *,
        expires: When,
        not_before: When | None = None,
        ip_address: str | None = None,
        resource: str | None = None,
    ) -> str:
        """``url`` with the signing parameters appended after its own query string.

        ``resource`` (default: the URL itself) may be a wildcard pattern so the same policy
        covers other files too.
        """
        validate_resource(url, name="url")
        query = url.partition("?")[2]
        for param in query.split("&"):
            if param.partition("=")[0] in SIGNED_URL_PARAMS:
                raise ConfigurationError(
                    f"url: already carries the CloudFront parameter {param.partition('=')[0]!r}; "
                    "pass the unsigned URL"
                )
        policy = Policy.build(
            url if resource is None else resource,
            expires=expires,
            not_before=not_before,
            ip_address=ip_address,
        )
        if resource is not None and resource != url:
            if not resource_covers(resource, url):
                raise ConfigurationError(
                    f"resource: {resource[:200]!r} does not cover url {url[:200]!r}, so "
                    "CloudFront would refuse the signed URL; use a pattern that matches it "
                    "(* for any run of characters, ? for one) or leave resource out"
                )
            if policy.canned:
                policy = replace(policy, custom=True)
        fields = self.sign_policy(policy, prefix="")
        parameters = "&".join(f"{name}={value}" for name, value in fields.items())
        signed = url + ("&" if "?" in url else "?") + parameters
        if len(signed) > MAX_URL_BYTES:
            raise ConfigurationError(
                f"url: the signed URL would be {len(signed)} bytes, over CloudFront's "
                f"{MAX_URL_BYTES}; shorten the URL or the policy, or use signed cookies"
            )
        return signed

    def sign_policy(self, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
        """Signed fields for an already checked policy: cookie names with the default prefix,
        query parameter names with ``prefix=""``."""
        canned_expires = policy.expires if policy.canned else None
        return self._signed_fields(policy.text(), canned_expires, prefix)

    def _signed_fields(
        self, text: str, canned_expires: int | None, prefix: str = "CloudFront-"
    ) -> dict[str, str]:
        """``sign_policy`` for a policy's ``text`` made by the caller, and its expiry when it
        is canned (sent in the text's place): the middleware's core signs each new user's
        terms through here, without a ``Policy`` object (a third of its work around the
        signature)."""
        names = _FIELD_NAMES.get(prefix) or tuple(prefix + name for name in SIGNED_URL_PARAMS)
        expires, policy, signature, key_pair_id, hash_algorithm = names
        data = text.encode("ascii")
        fields = (
            {policy: b64encode(data)} if canned_expires is None else {expires: str(canned_expires)}
        )
        fields[signature] = b64encode(self.sign(data))
        fields[key_pair_id] = self.key_pair_id
        if self.hash_algorithm != "SHA1":
            fields[hash_algorithm] = self.hash_algorithm
        return fields


def check_signer_works(signer: Signer) -> None:
    """Sign once now so a key the crypto backend refuses (SHA-1 under FIPS) fails at build."""
    try:
        signer.sign(b"cfcookie-middleware self-check")
    except Exception as exc:
        raise ConfigurationError(
            f"signer: {signer!r} cannot sign here ({type(exc).__name__}); on FIPS builds of "
            "OpenSSL use hash_algorithm='SHA256'"
        ) from None
