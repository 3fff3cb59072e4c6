"""The verifier decides as CloudFront documents, on AWS's published vectors and hand-made cases."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from cfcookie_middleware.signing import (
    ConfigurationError,
    Policy,
    Signer,
    b64decode,
    b64encode,
    resource_covers,
)
from cfcookie_middleware.verify import Decision, Verifier

VECTORS = Path(__file__).parent / "vectors"

CODES = {"MissingKey", "InvalidKey", "MalformedSignature", "MalformedPolicy", "AccessDenied"}
EXPIRES = 1767290400
"""The vectors' expiry: 2026-01-01T00:00:00Z is 1767225600 (56 years of days since 1970 plus 14
leap days, 20454 days * 86400), and 1767290400 - 1767225600 = 64800 s = 18 h later."""
EXPIRES_ISO = "2026-01-01T18:00:00Z"
BEFORE = EXPIRES - 60
HOST = "https://media.example.com"


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(
        {
            "K1TESTKEY": VECTORS / "test-rsa-key-public.pem",
            "K2ECDSATEST": (VECTORS / "test-ecdsa-key-public.pem").read_text(),
        }
    )


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("K1TESTKEY", VECTORS / "test-rsa-key.pem")


def policy_cookies(signer: Signer, policy: str) -> dict[str, str]:
    """Cookies for any policy text, malformed ones included, genuinely signed (RSA, SHA-1)."""
    data = policy.encode()
    return {
        "CloudFront-Policy": b64encode(data),
        "CloudFront-Signature": b64encode(signer.sign(data)),
        "CloudFront-Key-Pair-Id": signer.key_pair_id,
    }


def statement(resource: str | None = f"{HOST}/*", **condition: Any) -> str:
    condition.setdefault("DateLessThan", {"AWS:EpochTime": EXPIRES})
    body: dict[str, Any] = {"Condition": condition}
    if resource is not None:
        body["Resource"] = resource
    return json.dumps({"Statement": [body]})


def vector_fields(case: dict[str, Any], digest: str, prefix: str) -> dict[str, str]:
    """A vector as cookies (prefix "CloudFront-") or query parameters (prefix "")."""
    fields = {prefix + "Signature": case[f"sig_{digest}"], prefix + "Key-Pair-Id": "K1TESTKEY"}
    if case["kind"] == "canned":
        fields[prefix + "Expires"] = str(case["expires"])
    else:
        fields[prefix + "Policy"] = b64encode(case["policyJson"].encode())
    if digest == "sha256":
        fields[prefix + "Hash-Algorithm"] = "SHA256"
    return fields


def vector_url(case: dict[str, Any]) -> str:
    return str(case.get("applyTo", case["resource"]))


def client_ip(case: dict[str, Any]) -> str:
    return {"192.168.0.0/24": "192.168.0.7", "10.0.0.0/8": "10.1.2.3"}.get(
        case.get("ipRange", ""), "203.0.113.9"
    )


def refused(decision: Decision, code: str, *words: str) -> None:
    assert (decision.allowed, decision.code) == (False, code), decision
    for word in words:
        assert word in decision.reason, decision.reason


# --- AWS's published vectors ---------------------------------------------------------------


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
@pytest.mark.parametrize("index", range(6))
def test_sep_vectors_as_cookies_and_urls(
    verifier: Verifier, sep_vectors: dict[str, Any], index: int, digest: str
) -> None:
    case = sep_vectors["cases"][index]
    url, ip = vector_url(case), client_ip(case)
    cookies = vector_fields(case, digest, "CloudFront-")
    query = "&".join(f"{k}={v}" for k, v in vector_fields(case, digest, "").items())
    signed_url = url + ("&" if "?" in url else "?") + query
    for check in (
        lambda now: verifier.check_cookies(url, cookies, client_ip=ip, now=now),
        lambda now: verifier.check_url(signed_url, client_ip=ip, now=now),
    ):
        decision = check(BEFORE)
        assert decision.allowed, decision
        assert decision.code is None
        assert "signed by K1TESTKEY" in decision.reason
        assert decision.key_pair_id == "K1TESTKEY"
        assert decision.policy is not None
        assert decision.policy.expires == EXPIRES
        # Three hours after expiry; CloudFront denies from the expiry second on.
        refused(check(EXPIRES + 3 * 3600), "AccessDenied", "expired", EXPIRES_ISO, "3 h ago")
        refused(check(EXPIRES), "AccessDenied", "expired", "0 s ago")


def test_sha256_signature_without_its_hash_cookie_is_read_as_sha1(
    verifier: Verifier, sep_vectors: dict[str, Any]
) -> None:
    case = sep_vectors["cases"][0]
    cookies = vector_fields(case, "sha256", "CloudFront-")
    del cookies["CloudFront-Hash-Algorithm"]
    refused(
        verifier.check_cookies(case["resource"], cookies, now=BEFORE),
        "AccessDenied",
        "signature does not match",
        "SHA1",
    )


def test_not_valid_on_or_before_date_greater_than(
    verifier: Verifier, sep_vectors: dict[str, Any]
) -> None:
    case = sep_vectors["cases"][2]  # custom-policy-active-date: DateGreaterThan 1767200000
    cookies = vector_fields(case, "sha1", "CloudFront-")
    # 1767200000 is 25600 s (7 h 6 min 40 s) before 2026-01-01T00:00:00Z.
    refused(
        verifier.check_cookies(case["resource"], cookies, now=1767200000),
        "AccessDenied",
        "valid only after 2025-12-31T16:53:20Z (0 s ago)",
    )
    assert verifier.check_cookies(case["resource"], cookies, now=1767200001).allowed


def test_ip_condition(verifier: Verifier, sep_vectors: dict[str, Any]) -> None:
    case = sep_vectors["cases"][3]  # custom-policy-ip-range: 192.168.0.0/24
    cookies = vector_fields(case, "sha1", "CloudFront-")

    def check(ip: str | None) -> Decision:
        return verifier.check_cookies(case["resource"], cookies, client_ip=ip, now=BEFORE)

    assert check("192.168.0.255").allowed
    refused(check("192.168.1.0"), "AccessDenied", "192.168.1.0", "outside", "192.168.0.0/24")
    # An IPv4 viewer as a dual-stack socket reports it.
    assert check("::ffff:192.168.0.7").allowed
    refused(check("::ffff:192.168.1.7"), "AccessDenied", "192.168.1.7", "outside")
    refused(check("2001:db8::1"), "AccessDenied", "outside")
    refused(check(None), "AccessDenied", "unknown")
    refused(check("not an ip"), "AccessDenied", "not an IP address")


def test_wildcard_vector_covers_only_its_directory(
    verifier: Verifier, sep_vectors: dict[str, Any]
) -> None:
    case = sep_vectors["cases"][4]  # https://d111111abcdef8.cloudfront.net/images/*
    cookies = vector_fields(case, "sha1", "CloudFront-")
    refused(
        verifier.check_cookies("https://d111111abcdef8.cloudfront.net/video.mp4", cookies),
        "AccessDenied",
        "policy resource https://d111111abcdef8.cloudfront.net/images/* does not cover "
        "https://d111111abcdef8.cloudfront.net/video.mp4",
    )


def test_canned_policy_covers_exactly_its_url(
    verifier: Verifier, sep_vectors: dict[str, Any]
) -> None:
    case = sep_vectors["cases"][1]  # .../image.jpg?size=large
    cookies = vector_fields(case, "sha1", "CloudFront-")
    for url in (
        "https://d111111abcdef8.cloudfront.net/image.jpg",
        "https://d111111abcdef8.cloudfront.net/image.jpg?size=small",
        "http://d111111abcdef8.cloudfront.net/image.jpg?size=large",
    ):
        refused(
            verifier.check_cookies(url, cookies, now=BEFORE),
            "AccessDenied",
            "does not match the canned policy",
        )


def test_tampered_signature_and_policy(verifier: Verifier, sep_vectors: dict[str, Any]) -> None:
    case = sep_vectors["cases"][4]
    url = vector_url(case)
    good = vector_fields(case, "sha1", "CloudFront-")
    assert verifier.check_cookies(url, good, now=BEFORE).allowed

    signature = good["CloudFront-Signature"]
    flipped = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    bad_signature = {**good, "CloudFront-Signature": flipped}
    refused(
        verifier.check_cookies(url, bad_signature, now=BEFORE),
        "AccessDenied",
        "signature does not match",
    )

    # Widen the resource from /images/* to everything: the signature no longer covers it.
    widened = b64decode(good["CloudFront-Policy"]).replace(b"/images/*", b"/*")
    bad_policy = {**good, "CloudFront-Policy": b64encode(widened)}
    refused(
        verifier.check_cookies(url, bad_policy, now=BEFORE),
        "AccessDenied",
        "signature does not match",
    )
    # An expired genuine policy says so; a forged one (even expired) says it is forged.
    refused(verifier.check_cookies(url, good, now=EXPIRES), "AccessDenied", "expired")
    refused(
        verifier.check_cookies(url, bad_policy, now=EXPIRES),
        "AccessDenied",
        "signature does not match",
    )


# --- ECDSA --------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_algorithm", ["SHA256", "SHA1"])
def test_ecdsa_cookies(verifier: Verifier, ecdsa_key_path: Path, hash_algorithm: str) -> None:
    signer = Signer("K2ECDSATEST", ecdsa_key_path, hash_algorithm=hash_algorithm)
    cookies = signer.sign_cookies(f"{HOST}/videos/*", expires=EXPIRES)
    # CloudFront reads a missing Hash-Algorithm as SHA1, so only SHA256 names itself.
    assert ("CloudFront-Hash-Algorithm" in cookies) == (hash_algorithm == "SHA256")
    decision = verifier.check_cookies(f"{HOST}/videos/a.mp4", cookies, now=BEFORE)
    assert decision.allowed, decision
    assert f"with {hash_algorithm}" in decision.reason
    refused(verifier.check_cookies(f"{HOST}/videos/a.mp4", cookies, now=EXPIRES), "AccessDenied")


def test_ecdsa_signature_checked_with_the_named_hash(
    verifier: Verifier, ecdsa_key_path: Path
) -> None:
    signer = Signer("K2ECDSATEST", ecdsa_key_path)
    cookies = signer.sign_cookies(f"{HOST}/a.mp4", expires=EXPIRES)
    assert cookies.pop("CloudFront-Hash-Algorithm") == "SHA256"
    refused(
        verifier.check_cookies(f"{HOST}/a.mp4", cookies, now=BEFORE),
        "AccessDenied",
        "signature does not match",
    )


# --- signed URLs --------------------------------------------------------------------------


def test_signed_url_keeps_its_own_query(verifier: Verifier, signer: Signer) -> None:
    signed = signer.sign_url(f"{HOST}/a.mp4?quality=hd&t=1", expires=EXPIRES)
    assert verifier.check_url(signed, now=BEFORE).allowed
    assert verifier.check_url(signed + "#t=10", now=BEFORE).allowed  # never sent to CloudFront
    refused(
        verifier.check_url(signed.replace("quality=hd", "quality=sd"), now=BEFORE),
        "AccessDenied",
        "canned policy for https://media.example.com/a.mp4?quality=sd&t=1",
    )
    refused(
        verifier.check_url(signed.replace("quality=hd&t=1", "t=1&quality=hd"), now=BEFORE),
        "AccessDenied",
    )


def test_custom_signed_url_with_sha256(verifier: Verifier, rsa_key_path: Path) -> None:
    signer = Signer("K1TESTKEY", rsa_key_path, hash_algorithm="SHA256")
    signed = signer.sign_url(
        f"{HOST}/hls/index.m3u8?v=2", expires=EXPIRES, resource=f"{HOST}/hls/*"
    )
    assert "Hash-Algorithm=SHA256" in signed
    assert verifier.check_url(signed, now=BEFORE).allowed
    segment = signed.replace("index.m3u8", "seg-001.ts")
    assert verifier.check_url(segment, now=BEFORE).allowed
    refused(
        verifier.check_url(signed.replace("/hls/", "/dl/"), now=BEFORE),
        "AccessDenied",
        "does not cover https://media.example.com/dl/index.m3u8?v=2",
    )


def test_url_without_signing_parameters(verifier: Verifier) -> None:
    refused(verifier.check_url(f"{HOST}/a.mp4?x=1"), "MissingKey", "Key-Pair-Id")


def test_a_signing_parameter_is_named_up_to_its_first_equals_sign(
    verifier: Verifier, signer: Signer
) -> None:
    signed = signer.sign_url(f"{HOST}/a.mp4", expires=EXPIRES)
    refused(
        verifier.check_url(signed.replace(f"Expires={EXPIRES}", "Expires=1=2"), now=BEFORE),
        "MalformedPolicy",
        "Expires 1=2 is not integer epoch seconds",
    )


def test_signed_url_takes_precedence_over_cookies(verifier: Verifier, signer: Signer) -> None:
    url = f"{HOST}/a.mp4"
    cookies = signer.sign_cookies(url, expires=EXPIRES)
    assert verifier.check_cookies(url, cookies, now=BEFORE).allowed
    signed = signer.sign_url(url, expires=EXPIRES)
    assert verifier.check_cookies(signed, {}, now=BEFORE).allowed
    # Any one signing parameter makes it a signed URL; good cookies do not rescue it.
    for bad, code in (
        (url + "?Expires=1", "MissingKey"),
        (url + "?Hash-Algorithm=SHA1", "MissingKey"),
        (signed.replace("Signature=", "Signature=AAAA"), "AccessDenied"),
    ):
        refused(verifier.check_cookies(bad, cookies, now=BEFORE), code, "ignores the cookies")


def test_an_ip_bound_signed_url_checked_with_cookies_uses_the_client_ip(
    verifier: Verifier, signer: Signer
) -> None:
    signed = signer.sign_url(f"{HOST}/a.mp4", expires=EXPIRES, ip_address="203.0.113.0/24")
    decision = verifier.check_cookies(signed, {}, client_ip="203.0.113.9", now=BEFORE)
    assert decision.allowed, decision
    refused(
        verifier.check_cookies(signed, {}, client_ip="198.51.100.1", now=BEFORE),
        "AccessDenied",
        "client IP 198.51.100.1 is outside",
        "ignores the cookies",
    )


def test_a_url_with_a_lone_surrogate_is_refused_not_raised(
    verifier: Verifier, signer: Signer
) -> None:
    """A Python str can hold what no HTTP request can: the canned policy is still rebuilt (the
    surrogate kept as its 3 bytes) and checked, never an encoding error."""
    url = f"{HOST}/\ud800.mp4"
    forged = f"{url}?Expires={EXPIRES}&Signature=AAAA&Key-Pair-Id=K1TESTKEY"
    refused(verifier.check_url(forged, now=BEFORE), "AccessDenied", "signature does not match")
    policy = '{"Statement":[{"Resource":"' + url + '","Condition":{"DateLessThan":'
    data = (policy + '{"AWS:EpochTime":' + str(EXPIRES) + "}}}]}").encode("utf-8", "surrogatepass")
    cookies = {
        "CloudFront-Expires": str(EXPIRES),
        "CloudFront-Signature": b64encode(signer.sign(data)),
        "CloudFront-Key-Pair-Id": "K1TESTKEY",
    }
    assert verifier.check_cookies(url, cookies, now=BEFORE).allowed
    query = "&".join(f"{name[len('CloudFront-') :]}={value}" for name, value in cookies.items())
    assert verifier.check_url(f"{url}?{query}", now=BEFORE).allowed


def test_refusals_after_a_good_signature_carry_the_policy(
    verifier: Verifier, signer: Signer
) -> None:
    """Dates, IP and resource refusals say which genuine policy was refused; a forged set has
    none to give."""
    starts = EXPIRES - 3600
    cookies = signer.sign_cookies(
        f"{HOST}/v/*", expires=EXPIRES, not_before=starts, ip_address="203.0.113.0/24"
    )
    terms = Policy(f"{HOST}/v/*", EXPIRES, starts, "203.0.113.0/24")
    for url, ip, now, words in (
        (f"{HOST}/v/a", "203.0.113.9", EXPIRES, "expired"),
        (f"{HOST}/v/a", "203.0.113.9", starts, "valid only after"),
        (f"{HOST}/v/a", "198.51.100.1", BEFORE, "outside"),
        (f"{HOST}/v/a", None, BEFORE, "unknown"),
        (f"{HOST}/w/a", "203.0.113.9", BEFORE, "does not cover"),
    ):
        decision = verifier.check_cookies(url, cookies, client_ip=ip, now=now)
        refused(decision, "AccessDenied", words)
        assert decision.policy == terms
    canned = signer.sign_cookies(f"{HOST}/a.mp4", expires=EXPIRES)
    expired = verifier.check_cookies(f"{HOST}/a.mp4", canned, now=EXPIRES)
    refused(expired, "AccessDenied", "expired")
    assert expired.policy == Policy(f"{HOST}/a.mp4", EXPIRES)
    forged = {**cookies, "CloudFront-Signature": canned["CloudFront-Signature"]}
    mismatch = verifier.check_cookies(f"{HOST}/v/a", forged, client_ip="203.0.113.9", now=BEFORE)
    refused(mismatch, "AccessDenied", "signature does not match")
    assert mismatch.policy is None


# --- keys ---------------------------------------------------------------------------------


def test_key_errors(verifier: Verifier, signer: Signer, rsa2048: rsa.RSAPrivateKey) -> None:
    url = f"{HOST}/a.mp4"
    good = signer.sign_cookies(url, expires=EXPIRES)
    refused(verifier.check_cookies(url, {}), "MissingKey", "Domain or Path")
    refused(verifier.check_cookies(url, "session=abc; theme=dark"), "MissingKey", "Domain")
    partial = {k: v for k, v in good.items() if k != "CloudFront-Key-Pair-Id"}
    refused(
        verifier.check_cookies(url, partial, now=BEFORE),
        "MissingKey",
        "CloudFront-Expires, CloudFront-Signature came without a CloudFront-Key-Pair-Id",
    )
    refused(
        verifier.check_cookies(url, {**good, "CloudFront-Key-Pair-Id": ""}, now=BEFORE),
        "MissingKey",
        "CloudFront-Expires, CloudFront-Signature came without",
    )
    other_id = verifier.check_cookies(
        url, {**good, "CloudFront-Key-Pair-Id": "K9UNKNOWN"}, now=BEFORE
    )
    refused(other_id, "InvalidKey", "K9UNKNOWN", "K1TESTKEY")
    assert other_id.key_pair_id == "K9UNKNOWN"
    # A trusted id with another key's signature: the id is known, the signature is not its own.
    impostor = Signer("K1TESTKEY", rsa2048).sign_cookies(url, expires=EXPIRES)
    refused(
        verifier.check_cookies(url, impostor, now=BEFORE),
        "AccessDenied",
        "signature does not match",
    )


def test_verifier_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        Verifier({})
    with pytest.raises(ConfigurationError, match="private key"):
        Verifier({"K1TESTKEY": VECTORS / "test-rsa-key.pem"})
    with pytest.raises(ConfigurationError, match="key_pair_id"):
        Verifier({"k1 lower": VECTORS / "test-rsa-key-public.pem"})


def test_now_as_datetime(verifier: Verifier, signer: Signer) -> None:
    url = f"{HOST}/a.mp4"
    cookies = signer.sign_cookies(url, expires=EXPIRES)
    one_hour_before = datetime(2026, 1, 1, 17, tzinfo=timezone.utc)
    decision = verifier.check_cookies(url, cookies, now=one_hour_before)
    assert decision.allowed
    assert f"valid until {EXPIRES_ISO} (in 60 min)" in decision.reason
    with pytest.raises(ConfigurationError, match="naive"):
        verifier.check_cookies(url, cookies, now=datetime(2026, 1, 1, 17))
    # Signed now for an hour: allowed at the real current time.
    fresh = signer.sign_cookies(url, expires=int(time.time()) + 3600)
    assert verifier.check_cookies(url, fresh).allowed


# --- policy content -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "url", "expected"),
    [
        # `?` stands for exactly one character.
        (f"{HOST}/a?c", f"{HOST}/abc", True),
        (f"{HOST}/a?c", f"{HOST}/ac", False),
        (f"{HOST}/a?c", f"{HOST}/abbc", False),
        # `*` spans any run, `/` included, also the empty run.
        (f"{HOST}/*.jpg", f"{HOST}/dir/sub/p.jpg", True),
        (f"{HOST}/*", f"{HOST}/", True),
        (f"{HOST}/*", HOST, False),
        (f"{HOST}/a*b*c", f"{HOST}/abxbxc", True),
        (f"{HOST}/a*b*c", f"{HOST}/acb", False),
        # The whole URL must match, query string included.
        (f"{HOST}/*.jpg", f"{HOST}/p.jpg?w=1", False),
        (f"{HOST}/*.jpg?w=*", f"{HOST}/p.jpg?w=1", True),
        ("http*://media.example.com/a", "http://media.example.com/a", True),
        ("http*://media.example.com/a", "https://media.example.com/a", True),
        (f"{HOST}/*", "https://other.example.com/", False),
        # `[` is literal (fnmatch would read a character class).
        (f"{HOST}/[ab].jpg", f"{HOST}/a.jpg", False),
        (f"{HOST}/[ab].jpg", f"{HOST}/[ab].jpg", True),
        # What is left of the pattern after the URL ends may be only `*`s.
        (f"{HOST}/a*", f"{HOST}/a", True),
        (f"{HOST}/aX", f"{HOST}/a", False),
        (f"{HOST}/a*X*", f"{HOST}/a", False),
        # A `*` in the URL is a plain character; the policy's `*` still spans runs around it.
        (f"{HOST}/videos/*", f"{HOST}/videos/*intro.mp4", True),
        (f"{HOST}/*.mp4", f"{HOST}/*x.mp4", True),
        (f"{HOST}/a*b", f"{HOST}/a*cb", True),
        (f"{HOST}/a*b", f"{HOST}/a*c", False),
    ],
)
def test_resource_wildcards(
    verifier: Verifier, signer: Signer, resource: str, url: str, expected: bool
) -> None:
    cookies = policy_cookies(signer, statement(resource))
    decision = verifier.check_cookies(url, cookies, now=BEFORE)
    assert decision.allowed is expected, decision
    if not expected:
        refused(decision, "AccessDenied", "does not cover")


def _reference_match(pattern: str, text: str) -> bool:
    """The same rule as a regex: slow on hostile patterns, but plainly right on short ones."""
    wild = {"*": ".*", "?": "."}
    regex = "".join(wild.get(char, re.escape(char)) for char in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


@settings(max_examples=1000, deadline=None)  # a timing deadline would flake on a busy machine
@given(pattern=st.text("ab*?", max_size=6), text=st.text("ab*?", max_size=6))
def test_wildcard_match_agrees_with_a_regex(pattern: str, text: str) -> None:
    assert resource_covers(pattern, text) is _reference_match(pattern, text)


def test_wildcard_match_does_not_backtrack_catastrophically(
    verifier: Verifier, signer: Signer
) -> None:
    # A regex of 30 `.*a` groups against 5000 `a`s and no `b` would run for ages.
    cookies = policy_cookies(signer, statement(f"{HOST}/" + "*a" * 30 + "b"))
    started = time.perf_counter()
    decision = verifier.check_cookies(f"{HOST}/" + "a" * 5000, cookies, now=BEFORE)
    assert time.perf_counter() - started < 2
    refused(decision, "AccessDenied", "does not cover")


def test_missing_resource_grants_everything(verifier: Verifier, signer: Signer) -> None:
    cookies = policy_cookies(signer, statement(None))
    decision = verifier.check_cookies("https://anything.example.net/x", cookies, now=BEFORE)
    assert decision.allowed
    assert decision.reason.startswith('custom policy for every URL (Resource missing or "*")')
    assert decision.policy is not None
    assert decision.policy.resource == "*"


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        (json.dumps({"Statement": json.loads(statement())["Statement"] * 2}), "exactly one"),
        (json.dumps({"Statement": []}), "exactly one"),
        (statement(DateLessThan={"AWS:EpochTime": EXPIRES * 1000}), "milliseconds"),
        (statement(DateLessThan={"AWS:EpochTime": str(EXPIRES)}), "integer"),
        (statement(DateLessThan={"AWS:EpochTime": EXPIRES + 0.5}), "integer"),
        (statement(DateLessThan={"AWS:EpochTime": True}), "integer"),
        (statement(DateGreaterThan={"AWS:EpochTime": "0"}), "DateGreaterThan"),
        (statement(IpAddress={"AWS:SourceIp": "2001:db8::/32"}), "IPv4"),
        (statement(IpAddress={"AWS:SourceIp": "10.0.0.0/33"}), "10.0.0.0/33"),
        (statement(IpAddress={"AWS:SourceIp": ["10.0.0.0/8"]}), "AWS:SourceIp"),
        (statement(DateEquals={"AWS:EpochTime": EXPIRES}), "DateEquals"),
        # A condition is an object with exactly its one key, nothing else.
        (statement(DateLessThan=EXPIRES), "exactly AWS:EpochTime"),
        (statement(DateLessThan=[EXPIRES]), "exactly AWS:EpochTime"),
        (statement(DateLessThan={}), "exactly AWS:EpochTime"),
        (
            statement(DateLessThan={"AWS:EpochTime": EXPIRES, "AWS:SourceIp": "10.0.0.0/8"}),
            "exactly AWS:EpochTime",
        ),
        (statement(DateGreaterThan=0), "exactly AWS:EpochTime"),
        (statement(IpAddress="10.0.0.0/8"), "exactly AWS:SourceIp"),
        (
            statement(IpAddress={"AWS:SourceIp": "10.0.0.0/8", "AWS:EpochTime": EXPIRES}),
            "exactly AWS:SourceIp",
        ),
        # Just outside CloudFront's range of epoch seconds, at both ends.
        (statement(DateLessThan={"AWS:EpochTime": 2**31}), "outside 0..2147483647"),
        (statement(DateLessThan={"AWS:EpochTime": -1}), "outside 0..2147483647"),
        (statement(DateGreaterThan={"AWS:EpochTime": -1}), "DateGreaterThan -1 is outside"),
        (json.dumps({"Statement": [{"Resource": f"{HOST}/*", "Condition": 5}]}), "Condition"),
        (json.dumps({"Statement": ["x"]}), "Condition"),
        (json.dumps({"Statement": {"Resource": f"{HOST}/*"}}), "exactly one"),
        (json.dumps({"Statement": json.loads(statement())["Statement"], "Id": "x"}), "only"),
        (
            json.dumps(
                {"Statement": [{**json.loads(statement())["Statement"][0], "Effect": "Allow"}]}
            ),
            "unexpected fields ['Condition', 'Effect', 'Resource']",
        ),
        # Which of two values a reader takes is a guess: the first has expired, the last not.
        (
            '{"Statement":[{"Resource":"' + HOST + '/*","Condition":{"DateLessThan":'
            '{"AWS:EpochTime":'
            + str(BEFORE - 1)
            + '},"DateLessThan":{"AWS:EpochTime":'
            + str(EXPIRES)
            + "}}}]}",
            "repeated key",
        ),
        (
            '{"Statement":[{"Resource":"' + HOST + '/a","Resource":"' + HOST + '/*",'
            '"Condition":{"DateLessThan":{"AWS:EpochTime":' + str(EXPIRES) + "}}}]}",
            "repeated key",
        ),
        (json.dumps({"Statement": [{"Resource": f"{HOST}/*", "Condition": {}}]}), "DateLessThan"),
        (json.dumps({"Statement": [{"Resource": 7, "Condition": {}}]}), "policy"),
        (json.dumps({"Statement": [{"Resource": f"{HOST}/*"}]}), "Condition"),
        ("[]", "Statement"),
        ("hello", "JSON"),
        ("\udcff", "JSON"),
    ],
)
def test_malformed_policies(verifier: Verifier, signer: Signer, policy: str, words: str) -> None:
    data = policy.encode("utf-8", "surrogateescape")
    cookies = {
        "CloudFront-Policy": b64encode(data),
        "CloudFront-Signature": b64encode(signer.sign(data)),
        "CloudFront-Key-Pair-Id": "K1TESTKEY",
    }
    decision = verifier.check_cookies(f"{HOST}/a", cookies, now=BEFORE)
    refused(decision, "MalformedPolicy", words)
    assert (decision.policy, decision.key_pair_id) == (None, "K1TESTKEY")


def test_the_last_second_cloudfront_reads_is_a_valid_expiry(
    verifier: Verifier, signer: Signer
) -> None:
    """2147483647 (2038-01-19T03:14:07Z) is the last epoch CloudFront accepts; 0 the first."""
    url, last = f"{HOST}/a.mp4", 2**31 - 1
    canned = {
        "CloudFront-Expires": str(last),
        # Signed over the canned policy as CloudFront's docs print it, not signing.py's text.
        "CloudFront-Signature": b64encode(
            signer.sign(
                (
                    '{"Statement":[{"Resource":"' + url + '","Condition":{"DateLessThan":'
                    '{"AWS:EpochTime":' + str(last) + "}}}]}"
                ).encode()
            )
        ),
        "CloudFront-Key-Pair-Id": "K1TESTKEY",
    }
    custom = policy_cookies(
        signer,
        statement(DateLessThan={"AWS:EpochTime": last}, DateGreaterThan={"AWS:EpochTime": 0}),
    )
    for cookies in (canned, custom):
        decision = verifier.check_cookies(url, cookies, now=BEFORE)
        assert decision.allowed, decision
        assert decision.policy is not None
        assert decision.policy.expires == last
        assert "valid until 2038-01-19T03:14:07Z" in decision.reason
        refused(verifier.check_cookies(url, cookies, now=last), "AccessDenied", "expired")
    assert verifier.check_cookies(url, custom, now=1).allowed
    refused(verifier.check_cookies(url, custom, now=0), "AccessDenied", "valid only after")


# --- cases CloudFront leaves undocumented, and garbage -------------------------------------


def test_undocumented_cases(verifier: Verifier, signer: Signer) -> None:
    url = f"{HOST}/a.mp4"
    good = signer.sign_cookies(url, expires=EXPIRES)
    assert verifier.check_cookies(url, good, now=BEFORE).allowed

    def check(**changes: str | None) -> Decision:
        cookies = {**good}
        for name, value in changes.items():
            cookies.pop(f"CloudFront-{name}")
            if value is not None:
                cookies[f"CloudFront-{name}"] = value
        return verifier.check_cookies(url, cookies, now=BEFORE)

    refused(check(Signature=None), "MalformedSignature", "no CloudFront-Signature")
    refused(check(Signature="@@@@"), "MalformedSignature", "base64")
    refused(check(Signature='"' + good["CloudFront-Signature"] + '"'), "MalformedSignature")
    for value in ("SHA512", "sha256", ""):
        refused(
            verifier.check_cookies(url, {**good, "CloudFront-Hash-Algorithm": value}),
            "MalformedSignature",
            "Hash-Algorithm",
        )
    refused(check(Expires=None), "MalformedPolicy", "neither")
    refused(
        verifier.check_cookies(url, {**good, "CloudFront-Policy": "e30_"}, now=BEFORE),
        "MalformedPolicy",
        "both",
    )
    fullwidth_digits = "\uff11\uff12\uff13"
    for value in ("", "-1", "1.5", " 1767290400", "2147483648", "1767290400000", fullwidth_digits):
        refused(check(Expires=value), "MalformedPolicy", "CloudFront-Expires")
    refused(
        verifier.check_cookies(url, {**good, "CloudFront-Policy": "!!!"}, now=BEFORE),
        "MalformedPolicy",
    )


def test_duplicate_cookies_in_a_raw_header(verifier: Verifier, signer: Signer) -> None:
    url = f"{HOST}/a.mp4"
    good = signer.sign_cookies(url, expires=EXPIRES)
    header = "; ".join(f"{name}={value}" for name, value in good.items())
    assert verifier.check_cookies(url, header, now=BEFORE).allowed
    # The same cookie twice with the same value (two scopes, one grant) is harmless.
    same = header + f"; CloudFront-Expires={EXPIRES}"
    assert verifier.check_cookies(url, same, now=BEFORE).allowed
    stale = header + f"; CloudFront-Expires={EXPIRES - 3600}"
    refused(verifier.check_cookies(url, stale, now=BEFORE), "AccessDenied", "more than once")
    # Other cookies and odd parts are ignored; values are taken verbatim, quotes included.
    assert verifier.check_cookies(url, "=orphan; junk;; a=b=c; " + header, now=BEFORE).allowed
    quoted = header.replace(good["CloudFront-Signature"], f'"{good["CloudFront-Signature"]}"')
    refused(verifier.check_cookies(url, quoted, now=BEFORE), "MalformedSignature", "quoted")


def test_garbage_cookie_header(verifier: Verifier) -> None:
    header = (
        "CloudFront-Policy=\x00\udcff;;==; CloudFront-Key-Pair-Id=K1TESTKEY; CloudFront-Signature=é"
    )
    refused(verifier.check_cookies(f"{HOST}/a", header), "MalformedSignature")
    refused(verifier.check_cookies("", "CloudFront-Key-Pair-Id"), "MissingKey")


# --- property: garbage in, a refusal with a code out --------------------------------------

COOKIE_NAMES = [
    f"CloudFront-{name}" for name in ("Expires", "Policy", "Signature", "Key-Pair-Id")
] + ["CloudFront-Hash-Algorithm", "session"]
VALUES = st.one_of(
    st.text(),
    st.text(alphabet="ABCDEFGHabcdefgh0123456789-~_", max_size=200),
    st.sampled_from(["K1TESTKEY", "K2ECDSATEST", "SHA1", "SHA256", str(EXPIRES), "e30_"]),
)
URLS = st.one_of(
    st.text(),
    st.builds(
        lambda path, params: f"{HOST}/{path}" + ("?" + "&".join(params) if params else ""),
        st.text(max_size=30),
        st.lists(
            st.builds(
                "{}={}".format,
                st.sampled_from(["Expires", "Policy", "Signature", "Key-Pair-Id", "x"]),
                VALUES,
            ),
            max_size=5,
        ),
    ),
)
COOKIES = st.one_of(
    st.text(),
    st.dictionaries(st.one_of(st.sampled_from(COOKIE_NAMES), st.text()), VALUES, max_size=6),
    st.lists(st.tuples(st.sampled_from(COOKIE_NAMES), VALUES), max_size=6).map(
        lambda pairs: "; ".join(f"{name}={value}" for name, value in pairs)
    ),
)
IPS = st.one_of(st.none(), st.text(max_size=40), st.ip_addresses().map(str))


def assert_well_formed(decision: Decision) -> None:
    assert isinstance(decision, Decision)
    assert decision.reason
    assert decision.reason.isprintable()  # one line, whatever the input held
    if decision.allowed:
        assert decision.code is None
        assert "signed by" in decision.reason
    else:
        assert decision.code in CODES


@settings(max_examples=300, deadline=None)
@given(url=URLS, cookies=COOKIES, ip=IPS, now=st.integers(0, 2**31 - 1))
def test_garbage_never_raises(
    verifier: Verifier, url: str, cookies: dict[str, str] | str, ip: str | None, now: int
) -> None:
    assert_well_formed(verifier.check_cookies(url, cookies, client_ip=ip, now=now))
    assert_well_formed(verifier.check_url(url, client_ip=ip, now=now))


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(COOKIE_NAMES),
    value=VALUES,
    url=st.sampled_from([f"{HOST}/videos/a.mp4", f"{HOST}/b", ""]),
)
def test_one_garbage_field_in_good_cookies(
    verifier: Verifier, signer: Signer, name: str, value: str, url: str
) -> None:
    cookies = {**signer.sign_cookies(f"{HOST}/videos/*", expires=EXPIRES), name: value}
    assert_well_formed(verifier.check_cookies(url, cookies, client_ip="203.0.113.9", now=BEFORE))


# --- property: malformed policies under a valid signature are refused, never raised ---------

SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc80", "\udfff"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
NOT_A_DICT = JSON.filter(lambda value: not isinstance(value, dict))
NOT_A_STRING = JSON.filter(lambda value: not isinstance(value, str))
NOT_EPOCH = st.one_of(
    st.booleans(),  # an int subclass in Python, but not a number in JSON
    JSON.filter(lambda value: isinstance(value, bool) or not isinstance(value, int)),
    st.integers(max_value=-1),
    st.integers(min_value=2**31),
)
NOT_IPV4 = st.one_of(
    NOT_A_STRING,
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["2001:db8::/32", "::/0", "::ffff:10.0.0.0/104"]),
    # Every IPv4 address or CIDR block is made of digits, dots and a slash only.
    st.text(max_size=20).filter(lambda text: not re.fullmatch(r"[0-9./]*", text)),
    st.sampled_from(["10.0.0.1/8", "10.0.0.0/33", "256.0.0.0", "10.0.0", ""]),
)
KNOWN_CONDITIONS = ("DateLessThan", "DateGreaterThan", "IpAddress")


def _good_document() -> dict[str, Any]:
    return {
        "Statement": [
            {
                "Resource": f"{HOST}/v/*",
                "Condition": {
                    "DateLessThan": {"AWS:EpochTime": EXPIRES},
                    "DateGreaterThan": {"AWS:EpochTime": 0},
                    "IpAddress": {"AWS:SourceIp": "203.0.113.0/24"},
                },
            }
        ]
    }


def _not_exactly(key: str) -> st.SearchStrategy[object]:
    """Whatever a ``{key: ...}`` condition value must not be: not an object, or an object with
    other members than exactly ``key``."""
    return NOT_A_DICT | st.dictionaries(st.text(max_size=12), JSON).filter(
        lambda value: set(value) != {key}
    )


REPEATABLE = [
    ('"Statement"', "[]"),
    ('"Resource"', f'"{HOST}/*"'),
    ('"Condition"', "{}"),
    ('"DateLessThan"', '{"AWS:EpochTime":1}'),
    ('"DateGreaterThan"', '{"AWS:EpochTime":1}'),
    ('"IpAddress"', '{"AWS:SourceIp":"0.0.0.0/0"}'),
    ('"AWS:EpochTime"', "1"),
    ('"AWS:SourceIp"', '"0.0.0.0/0"'),
]
BREAKS = [
    "document",
    "document-members",
    "statement-list",
    "statement",
    "condition",
    "no-condition",
    "statement-member",
    "resource",
    "condition-member",
    "no-date-less-than",
    "date-less-than",
    "date-greater-than",
    "ip-address",
    "repeated-key",
    "cut",
    "surrogate",
    "deep",
    "not-utf8",
]


@st.composite
def broken_policies(draw: st.DrawFn, part: str) -> bytes:
    """The bytes of a policy that is valid but for ``part``: a member of the wrong JSON type
    or shape, one too many or too few, a repeated key, a cut text, nesting too deep to parse,
    or bytes that are not UTF-8 (such as a lone surrogate, as Python's surrogatepass writes it).
    """
    document: Any = _good_document()
    statement = document["Statement"][0]
    condition = statement["Condition"]
    good = json.dumps(document, separators=(",", ":"))
    if part == "document":
        document = draw(NOT_A_DICT)
    elif part == "document-members":
        others = st.text(max_size=12).filter(lambda name: name != "Statement")
        extra = draw(st.dictionaries(others, JSON, min_size=1))
        document = draw(st.sampled_from([extra, {**document, **extra}]))
    elif part == "statement-list":
        document["Statement"] = draw(
            NOT_A_STRING.filter(lambda value: not isinstance(value, list) or len(value) != 1)
            | st.integers(2, 3).map(lambda n: [statement] * n)
        )
    elif part == "statement":
        document["Statement"] = [draw(NOT_A_DICT)]
    elif part == "condition":
        statement["Condition"] = draw(NOT_A_DICT)
    elif part == "no-condition":
        del statement["Condition"]
    elif part == "statement-member":
        name = draw(st.text().filter(lambda k: k not in ("Resource", "Condition")))
        statement[name] = draw(JSON)
    elif part == "resource":
        statement["Resource"] = draw(NOT_A_STRING)
    elif part == "condition-member":
        condition[draw(st.text().filter(lambda k: k not in KNOWN_CONDITIONS))] = draw(JSON)
    elif part == "no-date-less-than":
        del condition["DateLessThan"]
    elif part in ("date-less-than", "date-greater-than"):
        name = "DateLessThan" if part == "date-less-than" else "DateGreaterThan"
        condition[name] = draw(
            _not_exactly("AWS:EpochTime") | NOT_EPOCH.map(lambda v: {"AWS:EpochTime": v})
        )
    elif part == "ip-address":
        condition["IpAddress"] = draw(
            _not_exactly("AWS:SourceIp") | NOT_IPV4.map(lambda v: {"AWS:SourceIp": v})
        )
    elif part == "repeated-key":
        # Another member with the name of one already there, first or last in its object.
        key, value = draw(st.sampled_from(REPEATABLE))
        at = good.index(key)
        opening = good.rindex("{", 0, at) + 1
        if draw(st.booleans()):
            return (good[:opening] + f"{key}:{value}," + good[opening:]).encode()
        return (good[:opening] + good[opening:].replace(key, f"{key}:{value},{key}", 1)).encode()
    elif part == "cut":
        return good[: draw(st.integers(0, len(good) - 1))].encode()
    elif part == "surrogate":
        at = draw(st.integers(0, len(good)))
        return (good[:at] + draw(SURROGATES) + good[at:]).encode("utf-8", "surrogatepass")
    elif part == "deep":  # nested past any parser's recursion limit
        return b'{"Statement":' + b"[" * draw(st.integers(10**4, 10**5))
    else:
        return draw(st.binary(min_size=1).filter(lambda data: not data.isascii()))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("part", BREAKS)
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    path=st.text(st.characters(exclude_characters="?#&") | SURROGATES, max_size=12),
    ip=st.sampled_from([None, "203.0.113.9", "2001:db8::1"]),
)
def test_a_validly_signed_malformed_policy_is_refused(
    verifier: Verifier,
    signer: Signer,
    part: str,
    data: st.DataObject,
    path: str,
    ip: str | None,
) -> None:
    """Whatever a genuinely signed policy holds (wrong JSON types, conditions of the wrong
    shape, repeated keys, surrogates), both checks answer MalformedPolicy and never raise."""
    policy = data.draw(broken_policies(part), label="policy")
    fields = {
        "Policy": b64encode(policy),
        "Signature": b64encode(signer.sign(policy)),
        "Key-Pair-Id": "K1TESTKEY",
    }
    url = f"{HOST}/v/{path}"
    query = "&".join(f"{name}={value}" for name, value in fields.items())
    cookies = {f"CloudFront-{name}": value for name, value in fields.items()}
    for decision in (
        verifier.check_cookies(url, cookies, client_ip=ip, now=BEFORE),
        verifier.check_url(f"{url}?{query}", client_ip=ip, now=BEFORE),
        verifier.check_cookies(f"{url}?{query}", {}, client_ip=ip, now=BEFORE),
    ):
        assert_well_formed(decision)
        assert (decision.allowed, decision.code) == (False, "MalformedPolicy"), decision
        assert (decision.policy, decision.key_pair_id) == (None, "K1TESTKEY")


def test_the_malformed_policy_property_starts_from_a_valid_policy(
    verifier: Verifier, signer: Signer
) -> None:
    """The property's base document is accepted as is: each drawn policy is refused for the one
    part broken, not for a mistake in the base."""
    data = json.dumps(_good_document()).encode()
    cookies = policy_cookies(signer, data.decode())
    decision = verifier.check_cookies(f"{HOST}/v/a", cookies, client_ip="203.0.113.9", now=BEFORE)
    assert decision.allowed, decision


# --- every reason in full -----------------------------------------------------------------
# The tests above check codes and the words that matter; these pin each reason's wording once,
# so that rewording one is a reviewed change.

URL = f"{HOST}/a.mp4"
WIDE = f"{HOST}/v/*"


def _reasons(verifier: Verifier, signer: Signer) -> dict[str, Decision]:
    canned = signer.sign_cookies(URL, expires=EXPIRES)
    custom = signer.sign_cookies(
        WIDE, expires=EXPIRES, not_before=EXPIRES - 3600, ip_address="203.0.113.0/24"
    )
    signed = signer.sign_url(URL, expires=EXPIRES)

    def without(name: str) -> dict[str, str]:
        return {key: value for key, value in canned.items() if key != f"CloudFront-{name}"}

    def cookies(url: str, values: dict[str, str] | str, **options: Any) -> Decision:
        options.setdefault("now", BEFORE)
        return verifier.check_cookies(url, values, **options)

    ip = {"client_ip": "203.0.113.9"}
    header = "; ".join(f"{name}={value}" for name, value in canned.items())
    return {
        "no-cookies": cookies(URL, {}),
        "no-key-in-url": verifier.check_url(URL + "?x=1"),
        "without-key": cookies(URL, without("Key-Pair-Id")),
        "untrusted-key": cookies(URL, {**canned, "CloudFront-Key-Pair-Id": "K9UNKNOWN"}),
        "hash": cookies(URL, {**canned, "CloudFront-Hash-Algorithm": "MD5"}),
        "no-signature": cookies(URL, without("Signature")),
        "signature-not-base64": cookies(URL, {**canned, "CloudFront-Signature": "@@"}),
        "both": cookies(URL, {**canned, "CloudFront-Policy": "e30_"}),
        "neither": cookies(URL, without("Expires")),
        "policy-not-base64": cookies(URL, {**custom, "CloudFront-Policy": "!!"}),
        "expires-not-epoch": cookies(URL, {**canned, "CloudFront-Expires": "1.5"}),
        "canned-mismatch": cookies(URL + "x", canned),
        "custom-mismatch": cookies(
            f"{HOST}/v/a", {**custom, "CloudFront-Signature": canned["CloudFront-Signature"]}
        ),
        "not-covered": cookies(f"{HOST}/w/a", custom, **ip),
        "expired": cookies(URL, canned, now=EXPIRES + 3 * 3600),
        "not-yet": cookies(f"{HOST}/v/a", custom, now=EXPIRES - 7200, **ip),
        "ip-unknown": cookies(f"{HOST}/v/a", custom),
        "ip-not-an-address": cookies(f"{HOST}/v/a", custom, client_ip="x y"),
        "ip-outside": cookies(f"{HOST}/v/a", custom, client_ip="198.51.100.1"),
        "sent-twice": cookies(URL, header + "; CloudFront-Expires=1"),
        "allowed-canned": cookies(URL, canned),
        "allowed-custom": cookies(f"{HOST}/v/a", custom, **ip),
        "url-wins": cookies(signed.replace("Signature=", "Signature=@"), canned),
        "long-url": verifier.check_url(f"{HOST}/" + "a" * 300),
    }


NOT_BASE64 = "is not CloudFront base64 (A-Z a-z 0-9 - ~ _, never quoted)"
REASONS = {
    "no-cookies": "no CloudFront-Key-Pair-Id cookie came with the request for "
    "https://media.example.com/a.mp4: the browser did not send the cookies, usually because "
    "their Domain or Path does not cover this URL or they are Secure and the request is http",
    "no-key-in-url": "the URL https://media.example.com/a.mp4?x=1 has no Key-Pair-Id query "
    "parameter",
    "without-key": "CloudFront-Expires, CloudFront-Signature came without a "
    "CloudFront-Key-Pair-Id; send all fields together",
    "untrusted-key": "key pair id K9UNKNOWN is not a trusted key (K1TESTKEY, K2ECDSATEST); sign "
    "with a key of the distribution's key group",
    "hash": "CloudFront-Hash-Algorithm MD5 is neither SHA1 nor SHA256, so the signature cannot be "
    "checked",
    "no-signature": "no CloudFront-Signature was sent with the others",
    "signature-not-base64": f"CloudFront-Signature @@ {NOT_BASE64}",
    "both": "both CloudFront-Policy and CloudFront-Expires were sent; clear the stale one",
    "neither": "neither CloudFront-Policy nor CloudFront-Expires was sent",
    "policy-not-base64": "CloudFront-Policy is not CloudFront base64",
    "expires-not-epoch": "CloudFront-Expires 1.5 is not integer epoch seconds up to 2147483647",
    "canned-mismatch": "the signature does not match the canned policy for "
    "https://media.example.com/a.mp4x expiring 1767290400 under key K1TESTKEY with SHA1: a canned "
    "policy covers exactly one URL (scheme, host, path and query), so it was signed for another "
    "URL, key or hash algorithm, or altered",
    "custom-mismatch": "the signature does not match the custom policy under key K1TESTKEY with "
    "SHA1: the policy or signature was altered, or signed with another key or hash algorithm",
    "not-covered": "policy resource https://media.example.com/v/* does not cover "
    "https://media.example.com/w/a",
    "expired": "the canned policy for https://media.example.com/a.mp4 expired at "
    "2026-01-01T18:00:00Z (3 h ago)",
    "not-yet": "the custom policy https://media.example.com/v/* is valid only after "
    "2026-01-01T17:00:00Z (in 60 min)",
    "ip-unknown": "the policy admits only client IPs in 203.0.113.0/24 but the client IP is "
    "unknown; pass it (client_ip=, or --client-ip on the command line)",
    "ip-not-an-address": "the client IP 'x y' is not an IP address",
    "ip-outside": "the client IP 198.51.100.1 is outside the policy's IpAddress 203.0.113.0/24",
    "sent-twice": "CloudFront-Expires was sent more than once with different values (often a "
    "stale cookie from another Domain or Path); clear the stale one",
    "allowed-canned": "canned policy for https://media.example.com/a.mp4 signed by K1TESTKEY with "
    "SHA1, valid until 2026-01-01T18:00:00Z (in 60 s)",
    "allowed-custom": "custom policy https://media.example.com/v/* signed by K1TESTKEY with SHA1, "
    "valid until 2026-01-01T18:00:00Z (in 60 s)",
    "url-wins": "Signature '@Kw2VXAP9gsA8DUfK-CiR2dsFveyuY-3truj0Z-FWRKu-u~m4NhLku-Wzshr'... "
    f"{NOT_BASE64} (the URL carries signed-URL parameters, so CloudFront ignores the cookies)",
    # Shown up to 200 characters: the host's 25, a slash, 174 more.
    "long-url": f"the URL '{HOST}/{'a' * 174}'... has no Key-Pair-Id query parameter",
}


def test_reasons_in_full(verifier: Verifier, signer: Signer) -> None:
    decisions = _reasons(verifier, signer)
    assert decisions.keys() == REASONS.keys()
    for case, decision in decisions.items():
        assert decision.reason == REASONS[case], case


@pytest.fixture
def host_ten_hours_ahead_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "XST-10")  # a POSIX zone, so no time zone database is needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("span", "distance"),
    [
        (1, "1 s"),
        (119, "119 s"),
        (120, "2 min"),
        (7199, "119 min"),
        (7200, "2 h"),
        (172799, "47 h"),
        (172800, "2 d"),
    ],
)
@pytest.mark.usefixtures("host_ten_hours_ahead_of_utc")
def test_times_in_reasons_use_the_largest_unit_that_counts_two(
    verifier: Verifier, signer: Signer, span: int, distance: str
) -> None:
    """Times are UTC whatever the host's zone, with a rough distance: the largest unit (day,
    hour, minute, second) of which at least two fit."""
    cookies = signer.sign_cookies(URL, expires=EXPIRES)
    after = verifier.check_cookies(URL, cookies, now=EXPIRES + span).reason
    assert after.endswith(f"expired at {EXPIRES_ISO} ({distance} ago)"), after
    before = verifier.check_cookies(URL, cookies, now=EXPIRES - span).reason
    assert before.endswith(f"valid until {EXPIRES_ISO} (in {distance})"), before


def test_verifier_refusals_in_full(verifier: Verifier) -> None:
    for call, message in (
        (
            lambda: Verifier({}),
            "keys: empty; pass {key pair id: public key}, such as "
            "{'K2JCJMDEHXQW5F': 'public_key.pem'}",
        ),
        (
            lambda: Verifier({"K1TESTKEY": b"garbage"}),
            "public key K1TESTKEY: could not load a public key; expected a PEM or DER RSA or ECDSA "
            "P-256 public key (-----BEGIN PUBLIC KEY-----)",
        ),
        (
            lambda: verifier.check_url(URL, now=datetime(2026, 1, 1)),
            "now: naive datetime 2026-01-01T00:00:00 has no time zone and would be read in the "
            "host's local time; use datetime.now(timezone.utc) + timedelta(...) or pass a "
            "timedelta",
        ),
    ):
        with pytest.raises(ConfigurationError) as caught:
            call()
        assert str(caught.value) == message
