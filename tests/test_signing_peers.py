"""Differential tests: our bytes against botocore's CloudFrontSigner and the AWS SDK for JS v3.

Inputs come from hypothesis, restricted to what all three accept unchanged: URLs made of RFC 3986
unreserved characters (the JS SDK percent-encodes anything else in ``getSignedUrl``), integer
epochs from 1 to 2**31-1, and IPv4 ranges with their host bits zero. The JS SDK runs in one node
process per hypothesis example, each example being a batch of 50 or more requests.
"""

from __future__ import annotations

import ipaddress
import json
import string
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from oracles import (
    SIGNING_PARAMS,
    botocore_signer,
    js_cookies,
    js_sign,
    node_with_js_sdk,
    pem,
    signing_params,
    utc,
    verify,
)

from cfcookie_middleware.signing import MAX_EPOCH, Policy, Signer, b64decode
from cfcookie_middleware.verify import Verifier

KEY_ID = "K2JCJMDEHXQW5F"
UNRESERVED = string.ascii_letters + string.digits + "-._~"
HASH_NAMES = ("SHA1", "SHA256")
BATCH = settings(
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
"""Each example is one node process signing a whole list: a few lists cover hundreds of cases.
No shrinking: it would start node hundreds of times, and the assertion names the failing case."""

labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
hosts = st.lists(labels, min_size=2, max_size=4).map(".".join)
segments = st.text(UNRESERVED, min_size=1, max_size=12)
paths = st.lists(segments, max_size=4).map(lambda parts: "/" + "/".join(parts))
query_pairs = st.tuples(
    segments.filter(lambda name: name not in SIGNING_PARAMS), st.text(UNRESERVED, max_size=8)
)
queries = st.lists(query_pairs, max_size=3).map(
    lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else ""
)
schemes = st.sampled_from(["https", "http"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    """An exact URL, optionally with its own query string."""
    return f"{draw(schemes)}://{draw(hosts)}{draw(paths)}{draw(queries)}"


@st.composite
def wildcard_resources(draw: st.DrawFn) -> str:
    """A policy resource with one ``*``: at the end, or in place of a path segment or the host."""
    scheme, host, path = draw(schemes), draw(hosts), draw(paths)
    where = draw(st.sampled_from(["end", "segment", "host"]))
    if where == "end":
        return f"{scheme}://{host}{path.rstrip('/')}/*"
    if where == "segment":
        return f"{scheme}://{host}/*{path}"
    return f"{scheme}://*.{host}{path}"


@st.composite
def ip_ranges(draw: st.DrawFn) -> str:
    """A single IPv4 address (CloudFront reads it as /32) or a CIDR block with host bits zero."""
    address = draw(st.ip_addresses(v=4))
    if draw(st.booleans()):
        return str(address)
    prefix = draw(st.integers(0, 32))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


YEAR_2000 = 946_684_800


@st.composite
def terms(draw: st.DrawFn, *, custom: bool) -> dict[str, Any]:
    """Expiry, and for a custom policy a start time and/or an IP range (at least one, since both
    SDKs choose a custom policy only then). Times start in 2000: the Signer refuses a smaller
    int as a duration passed by mistake (epoch 946684800 is 2000-01-01T00:00:00Z)."""
    expires = draw(st.integers(YEAR_2000 + 2, MAX_EPOCH))
    if not custom:
        return {"expires": expires, "not_before": None, "ip_address": None}
    kind = draw(st.sampled_from(["not_before", "ip_address", "both"]))
    not_before = draw(st.integers(YEAR_2000, expires - 2)) if kind != "ip_address" else None
    ip = draw(ip_ranges()) if kind != "not_before" else None
    return {"expires": expires, "not_before": not_before, "ip_address": ip}


@pytest.fixture(scope="module")
def node() -> str:
    return node_with_js_sdk()


@pytest.fixture(scope="module")
def signers(rsa2048: rsa.RSAPrivateKey) -> dict[str, Signer]:
    return {name: Signer(KEY_ID, rsa2048, hash_algorithm=name) for name in HASH_NAMES}


# --- botocore ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(url=urls(), grant=terms(custom=False))
def test_botocore_canned_urls_are_byte_identical(
    signers: dict[str, Signer], rsa2048: rsa.RSAPrivateKey, url: str, grant: dict[str, Any]
) -> None:
    expected = botocore_signer(KEY_ID, rsa2048).generate_presigned_url(
        url, date_less_than=utc(grant["expires"])
    )
    assert signers["SHA1"].sign_url(url, expires=grant["expires"]) == expected


@settings(max_examples=300, deadline=None)
@given(
    resource=st.one_of(urls(), wildcard_resources()),
    grant=st.one_of(terms(custom=False), terms(custom=True)),
)
def test_botocore_build_policy_is_byte_identical(
    rsa2048: rsa.RSAPrivateKey, resource: str, grant: dict[str, Any]
) -> None:
    """botocore takes datetimes and orders DateLessThan, IpAddress, DateGreaterThan, as we do; its
    one-condition custom form is also the canned policy's exact text."""
    not_before = grant["not_before"]
    expected = botocore_signer(KEY_ID, rsa2048).build_policy(
        resource,
        utc(grant["expires"]),
        None if not_before is None else utc(not_before),
        grant["ip_address"],
    )
    assert Policy.build(resource, **grant).text() == expected


def covering(url: str, kind: str | None) -> str | None:
    """No resource, or one that covers ``url``: its directory, either scheme, or ``?`` for its
    last character (a resource that does not cover the URL is refused)."""
    if kind == "directory":
        return url.rsplit("/", 1)[0] + "/*"
    if kind == "scheme":
        return "http*://" + url.split("://", 1)[1]
    if kind == "one-character":
        return url[:-1] + "?"
    return None


@settings(max_examples=100, deadline=None)
@given(
    url=urls(),
    kind=st.sampled_from([None, "directory", "scheme", "one-character"]),
    grant=st.one_of(terms(custom=True), terms(custom=False)),
)
def test_botocore_custom_policy_urls_are_byte_identical_and_verify(
    signers: dict[str, Signer],
    rsa2048: rsa.RSAPrivateKey,
    url: str,
    kind: str | None,
    grant: dict[str, Any],
) -> None:
    resource = covering(url, kind)
    # Custom because of a condition or because the resource is not the URL: a canned signed URL
    # would be checked against a policy CloudFront rebuilds from the request URL.
    assume(resource is not None or grant["not_before"] is not None or grant["ip_address"])
    peer = botocore_signer(KEY_ID, rsa2048)
    not_before = grant["not_before"]
    policy = peer.build_policy(
        url if resource is None else resource,
        utc(grant["expires"]),
        None if not_before is None else utc(not_before),
        grant["ip_address"],
    )
    expected = peer.generate_presigned_url(url, policy=policy)
    params = signing_params(expected)
    assert b64decode(params["Policy"]) == policy.encode()
    verify(rsa2048.public_key(), params["Signature"], policy.encode(), "SHA1")
    assert signers["SHA1"].sign_url(url, resource=resource, **grant) == expected


# --- AWS SDK for JavaScript v3 (@aws-sdk/cloudfront-signer) ------------------------------------


def js_request(kind: str, url: str, grant: dict[str, Any], algorithm: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "url": url,
        "expires": grant["expires"],
        "notBefore": grant["not_before"],
        "ipAddress": grant["ip_address"],
        "algorithm": algorithm,
    }


def batches(url_strategy: st.SearchStrategy[str], *, custom: bool) -> st.SearchStrategy[list[Any]]:
    """Lists of (kind, url, terms, hash) for one node process."""
    one = st.tuples(
        st.sampled_from(["cookies", "url"]),
        url_strategy,
        terms(custom=custom),
        st.sampled_from(HASH_NAMES),
    )
    return st.lists(one, min_size=50, max_size=60)


@BATCH
@given(batch=batches(urls(), custom=False))
def test_js_canned_cookies_and_urls_match(
    node: str, signers: dict[str, Signer], rsa2048: rsa.RSAPrivateKey, batch: list[Any]
) -> None:
    """Canned cookies are byte-identical for SHA-1 and SHA-256. Signed URLs carry the same bytes,
    but the SDK orders the parameters Expires, Key-Pair-Id, Signature (then Hash-Algorithm) where
    CloudFront's docs and botocore put Signature before Key-Pair-Id."""
    results = js_sign(node, pem(rsa2048), KEY_ID, [js_request(*case) for case in batch])
    for (kind, url, grant, algorithm), result in zip(batch, results, strict=True):
        signer = signers[algorithm]
        if kind == "cookies":
            assert js_cookies(result) == signer.sign_cookies(url, **grant), (url, grant)
            continue
        ours = signing_params(signer.sign_url(url, **grant))
        js_order = ["Expires", "Key-Pair-Id", "Signature"] + (
            ["Hash-Algorithm"] if algorithm == "SHA256" else []
        )
        fields = "&".join(f"{name}={ours[name]}" for name in js_order)
        assert result == url + ("&" if "?" in url else "?") + fields, grant


def assert_same_meaning(
    public_key: rsa.RSAPublicKey, js: dict[str, str], ours: dict[str, str], algorithm: str
) -> None:
    """Both grants decode to the same policy JSON, and each signature verifies over its policy."""
    js_policy, our_policy = b64decode(js["Policy"]), b64decode(ours["Policy"])
    assert json.loads(js_policy) == json.loads(our_policy)
    verify(public_key, js["Signature"], js_policy, algorithm)
    verify(public_key, ours["Signature"], our_policy, algorithm)
    assert {k: v for k, v in js.items() if k not in ("Policy", "Signature")} == {
        k: v for k, v in ours.items() if k not in ("Policy", "Signature")
    }


@BATCH
@given(batch=batches(st.one_of(urls(), wildcard_resources()), custom=True))
def test_js_custom_policies_mean_the_same(
    node: str, signers: dict[str, Signer], rsa2048: rsa.RSAPrivateKey, batch: list[Any]
) -> None:
    """The SDK orders conditions DateLessThan, DateGreaterThan, IpAddress (we and botocore put
    IpAddress second), so the policy bytes differ when both appear; the parsed JSON must not."""
    results = js_sign(node, pem(rsa2048), KEY_ID, [js_request(*case) for case in batch])
    for (kind, url, grant, algorithm), result in zip(batch, results, strict=True):
        signer = signers[algorithm]
        if kind == "cookies":
            js = {k.removeprefix("CloudFront-"): v for k, v in js_cookies(result).items()}
            ours = {
                k.removeprefix("CloudFront-"): v
                for k, v in signer.sign_cookies(url, **grant).items()
            }
        else:
            assert result.startswith(url + ("&" if "?" in url else "?"))
            js, ours = signing_params(result), signing_params(signer.sign_url(url, **grant))
        assert_same_meaning(rsa2048.public_key(), js, ours, algorithm)


@pytest.mark.parametrize("algorithm", [None, "SHA1", "SHA256"], ids=["default", "SHA1", "SHA256"])
def test_js_signs_ecdsa_keys_and_defaults_to_sha1(
    node: str, p256: ec.EllipticCurvePrivateKey, algorithm: str | None
) -> None:
    """The SDK hands any key to node's crypto.createSign("RSA-SHA1" | "RSA-SHA256"), which signs
    an EC key with ECDSA (DER): it works, but defaults to SHA-1 with no Hash-Algorithm cookie,
    where we (like the AWS CLI) default ECDSA to SHA-256."""
    url, grant = "https://media.example.com/a.mp4", {"expires": 1767290400}
    request = {"kind": "cookies", "url": url, "expires": grant["expires"], "algorithm": algorithm}
    [result] = js_sign(node, pem(p256), KEY_ID, [request])
    js = js_cookies(result)
    used = algorithm or "SHA1"
    ours = Signer(KEY_ID, p256, hash_algorithm=used).sign_cookies(url, **grant)
    policy = Policy.build(url, **grant).text().encode()
    verify(p256.public_key(), js.pop("CloudFront-Signature"), policy, used)
    verify(p256.public_key(), ours.pop("CloudFront-Signature"), policy, used)
    assert js == ours
    assert ("CloudFront-Hash-Algorithm" in js) is (used == "SHA256")


# --- our Verifier judges the peers' grants -------------------------------------------------------


@BATCH
@given(
    batch=st.lists(
        st.tuples(hosts, paths, segments, terms(custom=True), st.sampled_from(HASH_NAMES)),
        min_size=20,
        max_size=30,
    )
)
def test_verifier_allows_peer_grants_inside_their_resource_only(
    node: str, rsa2048: rsa.RSAPrivateKey, batch: list[Any]
) -> None:
    """JS SDK cookies and botocore URLs (canned and custom) for ``<base>/*``: allowed for
    ``<base>/<leaf>``, AccessDenied for ``<base><leaf>/x``, which the wildcard does not cover."""
    verifier = Verifier({KEY_ID: rsa2048.public_key()})
    peer = botocore_signer(KEY_ID, rsa2048)
    resources = [f"https://{host}{path.rstrip('/')}/*" for host, path, *_ in batch]
    requests = [
        js_request("cookies", resource, grant, algorithm)
        for resource, (*_, grant, algorithm) in zip(resources, batch, strict=True)
    ]
    results = js_sign(node, pem(rsa2048), KEY_ID, requests)
    for resource, (_, _, leaf, grant, _), result in zip(resources, batch, results, strict=True):
        base = resource.removesuffix("/*")
        inside, outside = f"{base}/{leaf}", f"{base}{leaf}/x"
        ip = grant["ip_address"]
        when = {
            "client_ip": str(ipaddress.ip_network(ip).network_address) if ip else "203.0.113.9",
            "now": grant["expires"] - 1,  # after any start time: terms() keeps it <= expires - 2
        }
        not_before = grant["not_before"]
        policy = peer.build_policy(
            resource, utc(grant["expires"]), None if not_before is None else utc(not_before), ip
        )
        custom_url = peer.generate_presigned_url(inside, policy=policy)
        canned_url = peer.generate_presigned_url(inside, date_less_than=utc(grant["expires"]))
        cookies = js_cookies(result)
        for decision in (
            verifier.check_cookies(inside, cookies, **when),
            verifier.check_url(custom_url, **when),
            verifier.check_url(canned_url, **when),
        ):
            assert decision.allowed, decision.reason
        for decision in (
            verifier.check_cookies(outside, cookies, **when),
            verifier.check_url(custom_url.replace(inside, outside, 1), **when),
            verifier.check_url(canned_url.replace(inside, outside, 1), **when),
        ):
            assert not decision.allowed
            assert decision.code == "AccessDenied", decision.reason
