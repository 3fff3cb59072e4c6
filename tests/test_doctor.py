"""``cfcookie doctor``: each pitfall of docs/cloudfront.md gives a failing check that names the fix,
a good configuration is all ok, and ``--probe`` reads real HTTP answers: the local edge's, and
small WSGI apps that answer as an unrestricted behavior, an S3 origin or a redirect would."""

from __future__ import annotations

import io
import re
import socket
import socketserver
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import VECTORS, self_signed_certificate, serving
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.serving import make_server

from cfcookie_middleware import cli
from cfcookie_middleware.doctor import Check, diagnose, probe
from cfcookie_middleware.edge import Edge, serve
from cfcookie_middleware.signing import Signer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

KEY_ID = "K2JCJMDEHXQW5F"
RESOURCE = "https://media.example.com/videos/*"
APP_URL = "https://www.example.com/videos"
CDN_URL = "https://media.example.com/videos/intro.mp4"
S3_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId>"
    b"<HostId>Uuag1LuByRx9e6j5OnimrSAMPLEtRPfTaOFbAuHo4=</HostId></Error>"
)
S3_NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message><Key>videos/intro.mp4</Key>"
    b"<RequestId>4442587FB7D0A2F9</RequestId><HostId>Uuag1LuByRx9e6j5On=</HostId></Error>"
)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads os.environ: start every test without the developer's own key."""
    for name in (
        "CLOUDFRONT_KEY_PAIR_ID",
        "CLOUDFRONT_PRIVATE_KEY",
        "CLOUDFRONT_PRIVATE_KEY_FILE",
        "CLOUDFRONT_HASH_ALGORITHM",
        "CLOUDFRONT_PRIVATE_KEY_PASSPHRASE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def key_file(tmp_path: Path, rsa2048: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "private_key.pem"
    path.write_bytes(pem(rsa2048))
    return path


@pytest.fixture
def env(key_file: Path) -> dict[str, str]:
    return {"CLOUDFRONT_KEY_PAIR_ID": KEY_ID, "CLOUDFRONT_PRIVATE_KEY_FILE": str(key_file)}


@pytest.fixture
def signer(rsa2048: rsa.RSAPrivateKey) -> Signer:
    return Signer(KEY_ID, rsa2048)


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [check.name for check in checks]
    assert len(names) == len(set(names)), names
    for check in checks:
        assert check.detail
        assert "\n" not in check.detail
    return {check.name: check for check in checks}


def run(env: dict[str, str], **options: object) -> dict[str, Check]:
    """``diagnose`` with the good configuration, ``options`` replacing parts of it."""
    arguments: dict[str, object] = {
        "signer_env": env,
        "resource": RESOURCE,
        "app_url": APP_URL,
        "cdn_url": CDN_URL,
        "cookie_domain": "example.com",
        **options,
    }
    return by_name(diagnose(**arguments))  # type: ignore[arg-type]


def failed(checks: dict[str, Check]) -> dict[str, str]:
    return {name: check.detail for name, check in checks.items() if not check.ok}


# --- a good configuration ---------------------------------------------------------------------


def test_good_configuration_is_all_ok(env: dict[str, str]) -> None:
    checks = run(env)
    assert failed(checks) == {}
    assert set(checks) == {
        "resource",
        "key id",
        "private key",
        "round trip",
        "cdn url",
        "cookie domain",
        "app host",
        "cdn host",
        "cookie path",
        "secure",
        "cookie sizes",
        "clock",
    }
    assert "RSA-2048" in checks["private key"].detail
    assert "verified with the derived public key" in checks["round trip"].detail


def test_ecdsa_key_from_pem_text_with_escaped_newlines_is_ok(
    p256: ec.EllipticCurvePrivateKey,
) -> None:
    # Environment variables often carry the PEM with literal "\n" (docs: what users trip over).
    escaped = pem(p256).decode().replace("\n", "\\n")
    assert "\n" not in escaped
    checks = run({"CLOUDFRONT_KEY_PAIR_ID": KEY_ID, "CLOUDFRONT_PRIVATE_KEY": escaped})
    assert failed(checks) == {}
    assert "ECDSA" in checks["private key"].detail
    assert "SHA256" in checks["round trip"].detail


def test_pkcs1_key_file_is_ok_for_a_legacy_key_pair_only() -> None:
    """The RSA-1024 key published with AWS's vectors, in PKCS#1 form (BEGIN RSA PRIVATE KEY):
    a legacy account key pair (APKA...) may be RSA-1024, a key group's key may not."""
    path = VECTORS / "test-rsa-key-pkcs1.pem"
    assert b"BEGIN RSA PRIVATE KEY" in path.read_bytes()
    env = {
        "CLOUDFRONT_KEY_PAIR_ID": "APKAEIBAERJR2EXAMPLE",
        "CLOUDFRONT_PRIVATE_KEY_FILE": str(path),
    }
    assert failed(run(env)) == {}
    env["CLOUDFRONT_KEY_PAIR_ID"] = KEY_ID
    assert failed(run(env)) == {
        "private key": "CLOUDFRONT_PRIVATE_KEY_FILE: RSA-1024 is not accepted by CloudFront key "
        "groups, which take RSA-2048 or ECDSA P-256 public keys; make one with `cfcookie keygen` "
        "(or openssl genrsa -out key.pem 2048) and upload its public key (only a legacy account "
        "key pair, an APKA... ID, may keep an RSA-1024 or RSA-4096 key)"
    }


# --- the key ----------------------------------------------------------------------------------


def test_missing_key_id_names_the_variable(env: dict[str, str]) -> None:
    del env["CLOUDFRONT_KEY_PAIR_ID"]
    checks = run(env)
    assert "CLOUDFRONT_KEY_PAIR_ID: not set" in checks["key id"].detail
    assert not checks["key id"].ok
    # The key itself is still checked; what needs a signer is left out until the ID is fixed.
    assert checks["private key"].ok
    assert "round trip" not in checks
    assert "cdn url" not in checks


@pytest.mark.parametrize(
    ("key_id", "fix"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "IAM access key"),
        ("0b0c1b7c-6b1a-4f1e-9d43-6a2f5ad5d6c1", "key group ID"),
        ("k2jcjmdehxqw5f", "lower case"),
    ],
)
def test_key_id_mix_ups_are_named(env: dict[str, str], key_id: str, fix: str) -> None:
    env["CLOUDFRONT_KEY_PAIR_ID"] = key_id
    detail = failed(run(env))["key id"]
    assert detail.startswith("CLOUDFRONT_KEY_PAIR_ID: ")
    assert fix in detail
    assert "K2JCJMDEHXQW5F" in detail  # the shape to use


def test_missing_private_key_names_both_variables(env: dict[str, str]) -> None:
    del env["CLOUDFRONT_PRIVATE_KEY_FILE"]
    detail = failed(run(env))["private key"]
    assert "CLOUDFRONT_PRIVATE_KEY" in detail
    assert "CLOUDFRONT_PRIVATE_KEY_FILE" in detail


def test_public_key_given_as_private_key(env: dict[str, str], tmp_path: Path) -> None:
    public = Path(__file__).parent / "vectors" / "test-rsa-key-public.pem"
    env["CLOUDFRONT_PRIVATE_KEY_FILE"] = str(public)
    detail = failed(run(env))["private key"]
    assert detail.startswith("CLOUDFRONT_PRIVATE_KEY_FILE: ")
    assert "public key" in detail
    assert "private key" in detail


def test_missing_key_file(env: dict[str, str], tmp_path: Path) -> None:
    env["CLOUDFRONT_PRIVATE_KEY_FILE"] = str(tmp_path / "nope.pem")
    detail = failed(run(env))["private key"]
    assert "nope.pem" in detail
    assert "path" in detail


def test_both_key_variables_set(env: dict[str, str], rsa2048: rsa.RSAPrivateKey) -> None:
    env["CLOUDFRONT_PRIVATE_KEY"] = pem(rsa2048).decode()
    assert "keep one" in failed(run(env))["private key"]


def test_encrypted_key_without_passphrase(env: dict[str, str], rsa2048: rsa.RSAPrivateKey) -> None:
    encrypted = rsa2048.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    Path(env["CLOUDFRONT_PRIVATE_KEY_FILE"]).write_bytes(encrypted)
    assert "CLOUDFRONT_PRIVATE_KEY_PASSPHRASE" in failed(run(env))["private key"]
    env["CLOUDFRONT_PRIVATE_KEY_PASSPHRASE"] = "s3cret"
    assert failed(run(env)) == {}


def test_unknown_hash_algorithm_names_the_variable(env: dict[str, str]) -> None:
    env["CLOUDFRONT_HASH_ALGORITHM"] = "MD5"
    detail = failed(run(env))["private key"]
    assert detail.startswith("CLOUDFRONT_HASH_ALGORITHM: ")
    assert "SHA256" in detail


def test_round_trip_fails_when_the_public_key_is_not_the_private_keys(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, p256: ec.EllipticCurvePrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    monkeypatch.setattr(Signer, "public_key", property(lambda self: other))
    detail = failed(run(env))["round trip"]
    assert detail.startswith("AccessDenied: ")
    assert "signature does not match" in detail


def test_round_trip_names_the_fix_when_the_backend_cannot_sign(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a FIPS build of OpenSSL does with SHA-1 (docs: what users trip over).
    def refuse(self: Signer, message: bytes) -> bytes:
        raise UnsupportedAlgorithm("sha1 is not allowed in FIPS mode")

    monkeypatch.setattr(Signer, "sign", refuse)
    checks = run(env)
    assert "SHA256" in failed(checks)["round trip"]
    assert "cookie sizes" not in checks


# --- resource and CDN URL ---------------------------------------------------------------------


def test_resource_without_scheme(env: dict[str, str]) -> None:
    checks = run(env, resource="media.example.com/videos/*")
    assert "https://" in failed(checks)["resource"]
    # Nothing that depends on the resource is judged from a broken one.
    assert {"round trip", "cdn url", "cookie path", "cookie sizes"}.isdisjoint(checks)


def test_resource_with_a_space(env: dict[str, str]) -> None:
    assert (
        "percent-encode"
        in failed(run(env, resource="https://media.example.com/my videos/*"))["resource"]
    )


def test_resource_that_does_not_cover_the_cdn_url(env: dict[str, str]) -> None:
    detail = failed(run(env, cdn_url="https://media.example.com/images/a.jpg"))["cdn url"]
    assert "does not cover https://media.example.com/images/a.jpg" in detail
    assert "https://media.example.com/images/*" in detail  # a resource that would


def test_scheme_mismatch_between_resource_and_cdn_url(env: dict[str, str]) -> None:
    # A policy for https:// does not cover the http:// URL of the same file.
    checks = run(env, cdn_url="http://media.example.com/videos/intro.mp4")
    assert "does not cover" in failed(checks)["cdn url"]


def test_canned_resource_covers_exactly_one_url(env: dict[str, str]) -> None:
    canned = "https://media.example.com/videos/intro.mp4"
    checks = run(env, resource=canned, cdn_url=canned)
    assert failed(checks) == {}
    assert "canned" in checks["resource"].detail
    detail = failed(run(env, resource=canned, cdn_url=canned + "?t=1"))["cdn url"]
    assert "covers that one URL only" in detail


def test_cdn_url_that_is_not_a_url(env: dict[str, str]) -> None:
    assert "https://" in failed(run(env, cdn_url="media.example.com/a.mp4"))["cdn url"]


# --- cookie domain ----------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["cloudfront.net", ".cloudfront.net", "com", "co.uk"])
def test_public_suffix_cookie_domain(env: dict[str, str], domain: str) -> None:
    checks = run(env, cookie_domain=domain)
    detail = failed(checks)["cookie domain"]
    assert "public suffix" in detail
    assert "alternate domain name" in detail
    assert "app host" not in checks  # host checks against a domain browsers refuse say nothing


def test_cookie_domain_with_a_scheme(env: dict[str, str]) -> None:
    assert "host name" in failed(run(env, cookie_domain="https://example.com"))["cookie domain"]


def test_cookie_domain_that_misses_the_app_host(env: dict[str, str]) -> None:
    checks = run(env, cookie_domain="media.example.com")
    detail = failed(checks)["app host"]
    assert "www.example.com cannot set cookies for media.example.com" in detail
    assert "use example.com, which holds both" in detail
    assert checks["cdn host"].ok


def test_cookie_domain_that_misses_the_cdn_host(env: dict[str, str]) -> None:
    checks = run(env, cookie_domain="www.example.com")
    assert checks["app host"].ok
    detail = failed(checks)["cdn host"]
    assert "media.example.com" in detail
    # The closest domain holding both hosts.
    assert "use the cookie domain example.com" in detail


def test_host_only_cookies_on_another_host_suggest_the_common_parent(
    env: dict[str, str],
) -> None:
    checks = run(env, cookie_domain=None, app_url="https://app.eu.example.com/")
    assert checks["cookie domain"].ok
    assert checks["app host"].ok
    detail = failed(checks)["cdn host"]
    assert "host-only" in detail
    assert "use the cookie domain example.com" in detail


def test_app_on_its_own_domain_and_cdn_on_cloudfront_net(env: dict[str, str]) -> None:
    cloudfront = "https://d111111abcdef8.cloudfront.net/videos/*"
    checks = run(
        env,
        resource=cloudfront,
        cdn_url="https://d111111abcdef8.cloudfront.net/videos/a.mp4",
        cookie_domain=None,
    )
    detail = failed(checks)["cdn host"]
    assert "alternate domain name (CNAME) such as media.example.com" in detail
    assert "cookie domain example.com" in detail


def test_app_on_localhost_and_cdn_on_cloudfront_net(env: dict[str, str]) -> None:
    checks = run(
        env,
        resource="https://d111111abcdef8.cloudfront.net/*",
        cdn_url=None,
        app_url="http://localhost:8000/",
        cookie_domain=None,
        secure=False,
    )
    detail = failed(checks)["cdn host"]
    assert "an app on localhost can never set cookies for d111111abcdef8.cloudfront.net" in detail
    assert "local edge" in detail


def test_without_a_cdn_url_the_resource_host_is_the_cdn_host(env: dict[str, str]) -> None:
    checks = run(env, cdn_url=None, cookie_domain="www.example.com")
    assert "cdn url" not in checks
    assert "media.example.com" in failed(checks)["cdn host"]


def test_app_and_cdn_on_one_host_need_no_cookie_domain(env: dict[str, str]) -> None:
    # Cookies ignore ports (RFC 6265 section 8.5): localhost:8000 cookies reach localhost:8001.
    checks = run(
        env,
        resource="http://localhost:8001/videos/*",
        cdn_url="http://localhost:8001/videos/intro.mp4",
        app_url="http://localhost:8000/videos",
        cookie_domain=None,
        secure=False,
    )
    assert failed(checks) == {}


def test_app_url_that_is_not_a_url(env: dict[str, str]) -> None:
    checks = run(env, app_url="localhost:8000")
    assert "http://" in failed(checks)["app host"]
    assert "secure" not in checks


# --- cookie path ------------------------------------------------------------------------------


def test_glob_cookie_path(env: dict[str, str]) -> None:
    detail = failed(run(env, cookie_path="/videos/*"))["cookie path"]
    assert "glob" in detail
    assert "literal prefix" in detail


# RFC 6265 section 5.1.4: a cookie path matches a request path that equals it, or that starts
# with it when the cookie path ends in "/" or the next character of the request path is "/".
# Every URL of https://media.example.com/videos/* has a path starting "/videos/".
@pytest.mark.parametrize(
    ("cookie_path", "covers"),
    [
        ("/", True),
        ("/videos", True),  # next character "/"
        ("/videos/", True),
        ("/vid", False),  # "/vid" does not path-match "/videos/a"
        ("/images/", False),
        ("/videos/hd/", False),  # /videos/sd/... is covered by the resource, not by the path
    ],
)
def test_cookie_path_must_cover_every_url_of_the_resource(
    env: dict[str, str], cookie_path: str, covers: bool
) -> None:
    check = run(env, cookie_path=cookie_path)["cookie path"]
    assert check.ok is covers
    if not covers:
        assert "use /videos/ or /" in check.detail


@pytest.mark.parametrize(
    ("resource", "cookie_path", "covers"),
    [
        # A canned resource is one path; "?" starts its query.
        ("https://media.example.com/videos/a.mp4?size=large", "/videos/a.mp4", True),
        ("https://media.example.com/videos/a.mp4", "/videos/a", False),
        # /videos* also covers /videos2/..., which a "/videos" cookie never reaches.
        ("https://media.example.com/videos*", "/videos", False),
        ("https://media.example.com/videos*", "/", True),
    ],
)
def test_cookie_path_against_canned_and_unbounded_resources(
    env: dict[str, str], resource: str, cookie_path: str, covers: bool
) -> None:
    checks = run(env, resource=resource, cdn_url=None, cookie_path=cookie_path)
    assert checks["cookie path"].ok is covers


# --- Secure -----------------------------------------------------------------------------------


def test_http_app_with_secure_cookies(env: dict[str, str]) -> None:
    detail = failed(run(env, app_url="http://www.example.com/videos"))["secure"]
    assert "browsers keep Secure cookies only from https" in detail
    assert "COOKIE_SECURE=0" in detail


def test_http_app_without_secure_is_ok_locally(env: dict[str, str]) -> None:
    check = run(env, app_url="http://www.example.com/videos", secure=False)["secure"]
    assert check.ok
    assert "local demo" in check.detail


def test_https_app_without_secure(env: dict[str, str]) -> None:
    assert "secure=True" in failed(run(env, secure=False))["secure"]


def test_secure_cookies_never_reach_an_http_cdn(env: dict[str, str]) -> None:
    checks = run(
        env,
        resource="http://media.example.com/videos/*",
        cdn_url="http://media.example.com/videos/intro.mp4",
    )
    assert "only over https" in failed(checks)["secure"]


# --- sizes and clock --------------------------------------------------------------------------


def test_cookie_that_browsers_would_drop(env: dict[str, str]) -> None:
    # A 3,100-character resource makes a policy of more than 3,100 bytes, whose base64 is more
    # than 4 * 3100 / 3 = 4,133 characters: over 4,096 before any attribute.
    resource = "https://media.example.com/" + "a" * 3100 + "/*"
    checks = run(env, resource=resource, cdn_url=None)
    detail = failed(checks)["cookie sizes"]
    assert "CloudFront-Policy" in detail
    assert "4096" in detail


def test_cookie_sizes_count_the_attributes(env: dict[str, str]) -> None:
    # The largest cookie of a short policy is the RSA-2048 signature: 256 bytes, 344 base64
    # characters, plus "CloudFront-Signature=" (21) and the attributes.
    plain = run(env, cookie_domain=None)["cookie sizes"].detail
    assert "CloudFront-Signature" in plain
    with_domain = run(env, cookie_domain="example.com")["cookie sizes"].detail
    size = int(plain.split(", ")[1].split()[0])
    assert int(with_domain.split(", ")[1].split()[0]) == size + len("; Domain=example.com")
    assert size > 21 + 344


def test_clock_before_2025(env: dict[str, str]) -> None:
    checks = run(env, now=1_000_000_000.0)  # 2001-09-09
    assert "2001-09-09" in failed(checks)["clock"]
    assert "NTP" in failed(checks)["clock"]


def test_clock_now_is_ok(env: dict[str, str]) -> None:
    assert run(env)["clock"].ok


# --- probe ------------------------------------------------------------------------------------


@contextmanager
def served(
    app: WSGIApplication, *, ssl_context: ssl.SSLContext | None = None, edge: bool = False
) -> Iterator[str]:
    """Serve ``app`` on a free loopback port (with the edge's ``serve`` or Werkzeug's own
    ``make_server``) and yield its base URL."""
    server = (
        serve(app, ssl_context=ssl_context)
        if edge
        else make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
    )
    with serving(server) as port:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"


def answering(
    status: str,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    seen: list[str] | None = None,
) -> WSGIApplication:
    """A WSGI app giving every request the same answer; ``seen`` collects the Cookie headers."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if seen is not None:
            seen.append(environ.get("HTTP_COOKIE", ""))
        start_response(status, [("Content-Type", "application/xml"), *headers])
        return [body]

    return app


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "intro.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return root


def test_probe_against_the_edge_is_all_ok(signer: Signer, media: Path) -> None:
    with served(Edge(media, {KEY_ID: signer.public_key}), edge=True) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer, resource=f"{base}/videos/*"))
    assert failed(checks) == {}
    assert "403 MissingKey" in checks["probe unsigned"].detail
    assert checks["probe signed"].detail.startswith("200")
    assert checks["clock vs cdn"].ok


def test_probe_with_a_key_the_edge_does_not_trust(signer: Signer, media: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with served(Edge(media, {"K3OTHERKEY": other}), edge=True) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer))
    assert checks["probe unsigned"].ok
    detail = failed(checks)["probe signed"]
    assert detail.startswith("403 InvalidKey: key ID K2JCJMDEHXQW5F is not in the cache behavior")
    assert "trusted key group" in detail
    assert "(edge: " in detail  # the edge's own reason follows
    assert "K3OTHERKEY" in detail


def test_probe_with_a_resource_that_misses_the_url(signer: Signer, media: Path) -> None:
    with served(Edge(media, {KEY_ID: signer.public_key}), edge=True) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer, resource=f"{base}/images/*"))
    detail = failed(checks)["probe signed"]
    assert detail.startswith("403 AccessDenied: ")
    assert f"does not cover {base}/videos/intro.mp4" in detail


def test_probe_of_a_missing_file(signer: Signer, media: Path) -> None:
    with served(Edge(media, {KEY_ID: signer.public_key}), edge=True) as base:
        checks = by_name(probe(f"{base}/videos/nope.mp4", signer))
    assert checks["probe unsigned"].ok
    detail = failed(checks)["probe signed"]
    assert detail.startswith("404 NoSuchKey from the origin")
    assert "does not exist" in detail


def test_probe_over_https_with_a_private_ca(signer: Signer, media: Path, tmp_path: Path) -> None:
    cert_file, server_context = self_signed(tmp_path)
    with served(Edge(media, {KEY_ID: signer.public_key}), ssl_context=server_context) as base:
        url = f"{base}/videos/intro.mp4"
        untrusted = by_name(probe(url, signer))
        trusted = by_name(
            probe(url, signer, ssl_context=ssl.create_default_context(cafile=cert_file))
        )
    assert "certificate" in failed(untrusted)["probe unsigned"]
    assert "--ca-file" in failed(untrusted)["probe unsigned"]
    assert failed(trusted) == {}


def test_unrestricted_behavior(signer: Signer) -> None:
    cookies: list[str] = []
    with served(answering("200 OK", b"video", seen=cookies)) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer))
    detail = failed(checks)["probe unsigned"]
    assert "not restricted: the cache behavior has no trusted key group" in detail
    assert checks["probe signed"].ok
    # One request without cookies, then one with the signed set.
    assert cookies[0] == ""
    assert "CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F" in cookies[1]
    assert "CloudFront-Signature=" in cookies[1]


def test_s3_access_denied_means_the_request_reached_the_origin(signer: Signer) -> None:
    with served(answering("403 Forbidden", S3_ACCESS_DENIED)) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer))
    unsigned = failed(checks)["probe unsigned"]
    assert unsigned.startswith("403 AccessDenied from the origin (S3)")
    assert "does not restrict viewer access" in unsigned
    assert "origin access control" in failed(checks)["probe signed"]


def test_s3_no_such_key(signer: Signer) -> None:
    with served(answering("404 Not Found", S3_NO_SUCH_KEY)) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer))
    assert "reached the origin" in failed(checks)["probe unsigned"]
    assert "does not exist" in failed(checks)["probe signed"]


def test_cloudfront_access_denied_without_any_cookie_is_not_the_signed_check(
    signer: Signer,
) -> None:
    # CloudFront's own AccessDenied (no RequestId/HostId) to a request without cookies comes
    # from something else than the key check, which would say MissingKey.
    body = b"<Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>"
    with served(answering("403 Forbidden", body)) as base:
        checks = by_name(probe(f"{base}/a.mp4", signer))
    assert "WAF" in failed(checks)["probe unsigned"]


def test_redirect_is_reported_not_followed(signer: Signer) -> None:
    paths: list[str] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        paths.append(environ["PATH_INFO"])
        start_response("301 Moved Permanently", [("Location", "https://media.example.com/a")])
        return [b""]

    with served(app) as base:
        checks = by_name(probe(f"{base}/a", signer))
    assert "301 redirect to https://media.example.com/a" in failed(checks)["probe unsigned"]
    assert paths == ["/a", "/a"]


@contextmanager
def raw_http(head: str) -> Iterator[str]:
    """A server answering every request with ``head`` as is (Werkzeug would add its own
    ``Date`` before the app's), for the clock checks."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.wfile.write(head.encode("ascii"))

    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}"


def dated(offset: float, *extra: str) -> str:
    date = formatdate(time.time() + offset, usegmt=True)
    return (
        "\r\n".join(
            ["HTTP/1.1 200 OK", f"Date: {date}", *extra, "Content-Length: 0", "Connection: close"]
        )
        + "\r\n\r\n"
    )


def test_clock_against_the_cdn_date(signer: Signer) -> None:
    with raw_http(dated(600)) as base:
        checks = by_name(probe(f"{base}/a", signer))
    detail = failed(checks)["clock vs cdn"]
    # Date has whole seconds and the answer takes a moment: 599 to 601 s.
    assert re.match(r"the local clock is (599|600|601) s behind the CDN's Date header", detail)
    assert "NTP" in detail
    with raw_http(dated(-600)) as base:
        checks = by_name(probe(f"{base}/a", signer))
    assert re.match(r"the local clock is (599|600|601) s ahead of", failed(checks)["clock vs cdn"])


def test_clock_against_a_cached_answer_counts_its_age(signer: Signer) -> None:
    # A cached answer keeps its original Date; Age says how long it has been cached.
    with raw_http(dated(-600, "Age: 600")) as base:
        checks = by_name(probe(f"{base}/a", signer))
    assert checks["clock vs cdn"].ok
    with raw_http(dated(-600, "Age: 0")) as base:
        checks = by_name(probe(f"{base}/a", signer))
    assert not checks["clock vs cdn"].ok


def test_clock_is_not_compared_without_a_date(signer: Signer) -> None:
    with raw_http("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") as base:
        checks = by_name(probe(f"{base}/a", signer))
    assert set(checks) == {"probe unsigned", "probe signed"}


def test_probe_of_a_closed_port(signer: Signer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    checks = by_name(probe(f"http://127.0.0.1:{port}/a", signer, timeout=5))
    assert set(checks) == {"probe unsigned"}
    assert "no answer from" in checks["probe unsigned"].detail


def test_probe_of_something_that_is_not_an_http_url(signer: Signer) -> None:
    checks = by_name(probe("file:///etc/passwd", signer))
    assert "http://" in failed(checks)["probe"]


def self_signed(directory: Path) -> tuple[str, ssl.SSLContext]:
    """A certificate for 127.0.0.1 (its own CA) and a server context using it."""
    certificate = self_signed_certificate(directory, "127.0.0.1")
    return str(certificate.certfile), certificate.server_context()


# --- command line -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def lines(text: str) -> list[tuple[str, str, str]]:
    """``(status, check, detail)`` of each output line, checking the layout on the way."""
    parsed = []
    for line in text.splitlines():
        status, name_detail = line[:6], line[6:]
        assert status in ("ok    ", "FAIL  "), line
        name, _, detail = name_detail.partition(": ")
        parsed.append((status.strip(), name, detail))
    return parsed


def test_cli_against_the_local_edge(
    cli_env: dict[str, str], signer: Signer, media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with served(Edge(media, {KEY_ID: signer.public_key}), edge=True) as base:
        status = cli.main(
            [
                "doctor",
                "--resource",
                f"{base}/videos/*",
                "--app-url",
                "http://127.0.0.1:8000/videos",
                "--no-secure",
                "--probe",
                f"{base}/videos/intro.mp4",
            ]
        )
    out, err = capsys.readouterr()
    assert err == ""
    assert status == 0
    parsed = lines(out)
    assert {status for status, _, _ in parsed} == {"ok"}
    names = [name for _, name, _ in parsed]
    # --probe's URL stands in for --cdn-url, and the probe's lines come last.
    assert "cdn url" in names
    assert names[-3:] == ["probe unsigned", "probe signed", "clock vs cdn"]
    assert ("ok", "key id", KEY_ID) in parsed


def test_cli_failing_checks_exit_1(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(
        [
            "doctor",
            "--resource",
            "https://d111111abcdef8.cloudfront.net/videos/*",
            "--app-url",
            "https://www.example.com/",
            "--cookie-path",
            "/videos/*",
        ]
    )
    out, err = capsys.readouterr()
    assert (status, err) == (1, "")
    failing = {name: detail for status, name, detail in lines(out) if status == "FAIL"}
    assert set(failing) == {"cdn host", "cookie path"}
    assert "alternate domain name" in failing["cdn host"]
    assert "glob" in failing["cookie path"]


def test_cli_key_options_replace_the_environment(
    monkeypatch: pytest.MonkeyPatch, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", "not an id")
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY", "not a key")
    status = cli.main(
        [
            "doctor",
            "--resource",
            RESOURCE,
            "--app-url",
            APP_URL,
            "--cookie-domain",
            "example.com",
            "--key-pair-id",
            KEY_ID,
            "--private-key",
            str(key_file),
            "--hash-algorithm",
            "sha256",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    details = {name: detail for _, name, detail in lines(out)}
    assert "with SHA256" in details["round trip"]
    # The key came from the option, not from the variable the command passed it through.
    assert details["private key"].startswith("loads from --private-key: ")
    assert "CLOUDFRONT_" not in out


def test_cli_names_the_option_a_bad_key_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLOUDFRONT_PRIVATE_KEY_FILE", raising=False)
    (tmp_path / "public.pem").write_bytes((VECTORS / "test-rsa-key-public.pem").read_bytes())
    status = cli.main(
        [
            *("doctor", "--resource", RESOURCE, "--app-url", APP_URL),
            *("--key-pair-id", "k2 lower", "--private-key", str(tmp_path / "public.pem")),
        ]
    )
    out = capsys.readouterr().out
    assert status == 1
    details = {name: detail for _, name, detail in lines(out)}
    assert details["key id"].startswith("--key-pair-id: "), out
    assert details["private key"].startswith("--private-key: this is a public key"), out


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_cli_private_key_from_stdin(
    monkeypatch: pytest.MonkeyPatch,
    rsa2048: rsa.RSAPrivateKey,
    capsys: pytest.CaptureFixture[str],
    encoding: serialization.Encoding,
) -> None:
    # The option's help: "private key PEM or DER file; '-' reads stdin".
    key = rsa2048.private_bytes(
        encoding, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(key)))
    status = cli.main(
        [
            *("doctor", "--resource", RESOURCE, "--app-url", "https://media.example.com/"),
            *("--key-pair-id", KEY_ID, "--private-key", "-"),
        ]
    )
    assert status == 0, capsys.readouterr().out


def test_cli_without_any_key_fails_the_key_checks_and_skips_the_probe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["doctor", "--resource", RESOURCE, "--app-url", APP_URL, "--probe", CDN_URL])
    out = capsys.readouterr().out
    assert status == 1
    failing = {name: detail for status, name, detail in lines(out) if status == "FAIL"}
    assert set(failing) >= {"key id", "private key", "probe"}
    assert "not run" in failing["probe"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--app-url", APP_URL], "--resource"),
        (["--resource", RESOURCE], "--app-url"),
        (["--resource", RESOURCE, "--app-url", APP_URL, "--ca-file", "ca.pem"], "--probe"),
        (["--resource", RESOURCE, "--app-url", APP_URL, "--origin", APP_URL], "--probe"),
        (
            ["--resource", RESOURCE, "--app-url", APP_URL, "--probe", RESOURCE, "--origin", "*"],
            "--origin: '*' is not an origin",
        ),
        (
            ["--resource", RESOURCE, "--app-url", APP_URL, "--key-pair-id", KEY_ID],
            "--private-key",
        ),
    ],
)
def test_cli_usage_errors_exit_2(
    argv: list[str], message: str, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["doctor", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("cfcookie: error: ")
    assert message in err


def test_cli_unreadable_ca_file(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "ca.pem"
    argv = ["doctor", "--resource", RESOURCE, "--app-url", APP_URL, "--probe", CDN_URL]
    assert cli.main([*argv, "--ca-file", str(missing)]) == 2
    assert "--ca-file" in capsys.readouterr().err


def test_cli_probe_with_ca_file(
    cli_env: dict[str, str],
    signer: Signer,
    media: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cert_file, server_context = self_signed(tmp_path)
    with served(Edge(media, {KEY_ID: signer.public_key}), ssl_context=server_context) as base:
        argv = ["doctor", "--resource", f"{base}/videos/*", "--app-url", f"{base}/"]
        status = cli.main([*argv, "--probe", f"{base}/videos/intro.mp4", "--ca-file", cert_file])
    out = capsys.readouterr().out
    assert status == 0, out


def test_cli_help_lists_doctor(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "doctor" in capsys.readouterr().out


# --- --origin: the signed probe as a player's credentialed CORS request -------------------------

PAGE = "https://www.example.com"


def test_probe_with_origin_against_the_edge_with_cors(signer: Signer, media: Path) -> None:
    edge = Edge(media, {KEY_ID: signer.public_key}, cors_origins=[PAGE])
    with served(edge, edge=True) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer, origin=PAGE))
    assert failed(checks) == {}
    assert checks["cors origin"].detail == f"Access-Control-Allow-Origin: {PAGE}"
    assert checks["cors credentials"].ok
    assert checks["cors vary"].ok


def test_probe_with_origin_against_an_edge_without_cors(signer: Signer, media: Path) -> None:
    with served(Edge(media, {KEY_ID: signer.public_key}), edge=True) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer, origin=PAGE))
    problems = failed(checks)
    assert set(problems) == {"cors origin", "cors credentials", "cors vary"}
    assert problems["cors origin"].startswith(f"Access-Control-Allow-Origin is none, not {PAGE}")
    assert "response headers policy" in problems["cors origin"]
    assert "set Access-Control-Allow-Credentials to true" in problems["cors credentials"]
    assert "cache policy, Headers: Origin" in problems["cors vary"]


def test_probe_with_origin_refuses_a_wildcard_and_another_origin(signer: Signer) -> None:
    wildcard = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true")]
    other = [
        ("Access-Control-Allow-Origin", "https://other.example.com"),
        ("Access-Control-Allow-Credentials", "false"),
        ("Vary", "Accept-Encoding, origin"),
    ]
    with served(answering("200 OK", headers=wildcard)) as base:
        star = by_name(probe(f"{base}/a.mp4", signer, origin=PAGE))
    with served(answering("200 OK", headers=other)) as base:
        elsewhere = by_name(probe(f"{base}/a.mp4", signer, origin=PAGE))
    assert "'*', which browsers refuse for requests with credentials" in failed(star)["cors origin"]
    assert star["cors credentials"].ok
    assert "no Vary: Origin" in failed(star)["cors vary"]
    assert "'https://other.example.com'" in failed(elsewhere)["cors origin"]
    assert "is false" in failed(elsewhere)["cors credentials"]
    assert elsewhere["cors vary"].ok  # Origin among the Vary names, in any case


def test_without_origin_there_are_no_cors_checks(signer: Signer, media: Path) -> None:
    with served(Edge(media, {KEY_ID: signer.public_key}), edge=True) as base:
        checks = by_name(probe(f"{base}/videos/intro.mp4", signer))
    assert not any(name.startswith("cors") for name in checks)
