"""The local CloudFront stand-in, through Werkzeug's test client and real loopback servers.

Expected bodies and messages are written out from CloudFront's documented error table
(shared/docs/cloudfront.md) and S3's error shape; file bytes, ranges and lengths are computed by
hand from the fixture's bytes, never taken from the code under test.
"""

from __future__ import annotations

import http.client
import logging
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from conftest import self_signed_certificate, serving
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from middleware_helpers import cookie_header
from werkzeug.test import Client, EnvironBuilder, TestResponse, run_wsgi_app

from cfcookie_middleware.cli import main
from cfcookie_middleware.edge import Edge, serve
from cfcookie_middleware.signing import ConfigurationError, Signer
from cfcookie_middleware.verify import Verifier

OLD_KEY_ID, NEW_KEY_ID = "K2EDGEOLD", "K3EDGENEW"
VIDEO = bytes(range(256)) * 40  # 10240 bytes, each offset's byte is offset % 256
SECRET = b"outside the root: must never be served"
HOST = "http://localhost"  # Werkzeug's test client sends Host: localhost
XML = '<?xml version="1.0" encoding="UTF-8"?>'
# CloudFront's error bodies, one per documented code (cloudfront.md, "What CloudFront answers").
CLOUDFRONT_BODIES = {
    "MissingKey": "Missing Key-Pair-Id query parameter or cookie value",
    "InvalidKey": "Unknown Key",
    "MalformedSignature": "Could not unencode Signature",
    "MalformedPolicy": "Malformed Policy",
    "AccessDenied": "Access denied",
}


def cloudfront_body(code: str) -> bytes:
    message = CLOUDFRONT_BODIES[code]
    return f"{XML}<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def later(seconds: int = 600) -> int:
    return int(time.time()) + seconds


def is_header_safe(value: str) -> bool:
    return bool(value) and all(" " <= char <= "~" for char in value)


class _Client(Client):
    """Buffered, as a WSGI server reads and closes every body (an unread file would stay open)."""

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> TestResponse:
        return super().open(*args, buffered=buffered, **kwargs)


def cookieless(app: Edge) -> Client:
    """A test client without a cookie jar: with one, Werkzeug replaces a ``Cookie`` header
    given per request by the jar's (empty) contents."""
    return _Client(app, use_cookies=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp_path/root`` with a video, a private file and a folder; a secret beside it."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    folder = tmp_path / "root"
    (folder / "videos").mkdir(parents=True)
    (folder / "videos" / "intro.mp4").write_bytes(VIDEO)
    (folder / "private").mkdir()
    (folder / "private" / "doc.txt").write_bytes(b"private")
    return folder


@pytest.fixture(scope="module")
def old_signer(rsa2048: rsa.RSAPrivateKey) -> Signer:
    return Signer(OLD_KEY_ID, rsa2048)


@pytest.fixture(scope="module")
def new_signer(p256: ec.EllipticCurvePrivateKey) -> Signer:
    return Signer(NEW_KEY_ID, p256)


@pytest.fixture
def edge(root: Path, old_signer: Signer) -> Edge:
    return Edge(root, {OLD_KEY_ID: old_signer.public_key})


@pytest.fixture
def client(edge: Edge) -> Client:
    return cookieless(edge)


@pytest.fixture
def video_cookies(old_signer: Signer) -> str:
    return cookie_header(old_signer.sign_cookies(f"{HOST}/videos/*", expires=later()))


# --- refusals: CloudFront's codes, bodies and the reason header --------------------------------


def test_unsigned_request_is_403_missing_key(client: Client) -> None:
    response = client.get("/videos/intro.mp4")
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "text/xml"
    assert response.data == cloudfront_body("MissingKey")
    reason = response.headers["X-Cfcookie-Reason"]
    assert "CloudFront-Key-Pair-Id" in reason
    assert f"{HOST}/videos/intro.mp4" in reason
    assert VIDEO[:16] not in response.data


def _malformed_policy(signer: Signer) -> dict[str, str]:
    cookies = dict(signer.sign_cookies(f"{HOST}/videos/*", expires=later()))
    cookies["CloudFront-Policy"] = "not*base64"
    return cookies


def _bad_signature_encoding(signer: Signer) -> dict[str, str]:
    cookies = dict(signer.sign_cookies(f"{HOST}/videos/*", expires=later()))
    cookies["CloudFront-Signature"] = "not*base64"
    return cookies


@pytest.mark.parametrize(
    ("code", "make_cookies"),
    [
        ("InvalidKey", lambda old, new: new.sign_cookies(f"{HOST}/videos/*", expires=later())),
        ("MalformedSignature", lambda old, new: _bad_signature_encoding(old)),
        ("MalformedPolicy", lambda old, new: _malformed_policy(old)),
        ("AccessDenied", lambda old, new: old.sign_cookies(f"{HOST}/private/*", expires=later())),
    ],
)
def test_each_refusal_has_cloudfronts_body(
    client: Client,
    old_signer: Signer,
    new_signer: Signer,
    code: str,
    make_cookies: Callable[[Signer, Signer], Mapping[str, str]],
) -> None:
    cookies = make_cookies(old_signer, new_signer)
    response = client.get("/videos/intro.mp4", headers={"Cookie": cookie_header(cookies)})
    assert (response.status_code, response.data) == (403, cloudfront_body(code))
    assert response.headers["Content-Type"] == "text/xml"
    assert is_header_safe(response.headers["X-Cfcookie-Reason"])


def test_file_outside_the_policy_is_access_denied_naming_the_resource(
    client: Client, video_cookies: str
) -> None:
    response = client.get("/private/doc.txt", headers={"Cookie": video_cookies})
    assert (response.status_code, response.data) == (403, cloudfront_body("AccessDenied"))
    reason = response.headers["X-Cfcookie-Reason"]
    assert f"{HOST}/videos/*" in reason
    assert f"{HOST}/private/doc.txt" in reason


def test_expired_cookies_are_refused(client: Client, old_signer: Signer) -> None:
    cookies = old_signer.sign_cookies(f"{HOST}/videos/*", expires=int(time.time()) - 60)
    response = client.get("/videos/intro.mp4", headers={"Cookie": cookie_header(cookies)})
    assert (response.status_code, response.data) == (403, cloudfront_body("AccessDenied"))
    assert "expired" in response.headers["X-Cfcookie-Reason"]


def test_unknown_key_id_is_invalid_key_naming_it(client: Client, new_signer: Signer) -> None:
    cookies = new_signer.sign_cookies(f"{HOST}/videos/*", expires=later())
    response = client.get("/videos/intro.mp4", headers={"Cookie": cookie_header(cookies)})
    assert (response.status_code, response.data) == (403, cloudfront_body("InvalidKey"))
    assert NEW_KEY_ID in response.headers["X-Cfcookie-Reason"]


def test_reason_header_is_printable_ascii_whatever_the_request_carries(client: Client) -> None:
    # A UTF-8 key id as a WSGI server hands it over (bytes read as latin-1): the reason quotes it.
    key_id = "ключ" * 50
    wsgi_text = key_id.encode().decode("latin-1")
    cookie = f"CloudFront-Key-Pair-Id={wsgi_text}; CloudFront-Signature=AAAA; CloudFront-Expires=1"
    response = client.get("/videos/intro.mp4", headers={"Cookie": cookie})
    assert response.status_code == 403
    assert is_header_safe(response.headers["X-Cfcookie-Reason"])


def test_client_ip_comes_from_remote_addr(client: Client, old_signer: Signer) -> None:
    cookies = cookie_header(
        old_signer.sign_cookies(f"{HOST}/videos/*", expires=later(), ip_address="203.0.113.0/24")
    )
    refused = client.get(
        "/videos/intro.mp4",
        headers={"Cookie": cookies},
        environ_overrides={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert refused.status_code == 403
    assert "198.51.100.7" in refused.headers["X-Cfcookie-Reason"]
    allowed = client.get(
        "/videos/intro.mp4",
        headers={"Cookie": cookies},
        environ_overrides={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert (allowed.status_code, allowed.data) == (200, VIDEO)


# --- serving --------------------------------------------------------------------------------------


def test_signed_cookies_serve_the_file(client: Client, video_cookies: str) -> None:
    response = client.get("/videos/intro.mp4", headers={"Cookie": video_cookies})
    assert response.status_code == 200
    assert response.data == VIDEO
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Length"] == str(len(VIDEO))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Cfcookie-Reason"].startswith(f"custom policy {HOST}/videos/*")


def test_signed_url_wins_over_garbage_cookies(client: Client, old_signer: Signer) -> None:
    url = old_signer.sign_url(f"{HOST}/videos/intro.mp4", expires=later())
    garbage = "CloudFront-Key-Pair-Id=NOPE; CloudFront-Signature=x; CloudFront-Policy=y"
    response = client.get(url.removeprefix(HOST), headers={"Cookie": garbage})
    assert (response.status_code, response.data) == (200, VIDEO)


def test_invalid_signed_url_is_refused_even_with_valid_cookies(
    client: Client, old_signer: Signer, video_cookies: str
) -> None:
    expired = old_signer.sign_url(f"{HOST}/videos/intro.mp4", expires=int(time.time()) - 60)
    response = client.get(expired.removeprefix(HOST), headers={"Cookie": video_cookies})
    assert (response.status_code, response.data) == (403, cloudfront_body("AccessDenied"))
    assert "ignores the cookies" in response.headers["X-Cfcookie-Reason"]


def test_two_trusted_keys_both_pass_during_rotation(
    root: Path, old_signer: Signer, new_signer: Signer
) -> None:
    client = cookieless(
        Edge(root, {OLD_KEY_ID: old_signer.public_key, NEW_KEY_ID: new_signer.public_key})
    )
    for signer in (old_signer, new_signer):
        cookies = signer.sign_cookies(f"{HOST}/videos/*", expires=later())
        response = client.get("/videos/intro.mp4", headers={"Cookie": cookie_header(cookies)})
        assert (response.status_code, response.data) == (200, VIDEO), signer.key_pair_id
        assert signer.key_pair_id in response.headers["X-Cfcookie-Reason"]


def test_a_ready_verifier_is_accepted(root: Path, old_signer: Signer, video_cookies: str) -> None:
    client = cookieless(Edge(root, Verifier({OLD_KEY_ID: old_signer.public_key})))
    assert client.get("/videos/intro.mp4", headers={"Cookie": video_cookies}).status_code == 200


def test_public_url_replaces_the_requests_scheme_and_host(root: Path, old_signer: Signer) -> None:
    cookies = cookie_header(
        old_signer.sign_cookies("https://media.example.com/videos/*", expires=later())
    )
    behind = cookieless(
        Edge(root, {OLD_KEY_ID: old_signer.public_key}, public_url="https://media.example.com/")
    )
    assert behind.get("/videos/intro.mp4", headers={"Cookie": cookies}).data == VIDEO
    # Without it the URL checked is the one requested, as CloudFront compares with the host
    # viewers use.
    direct = cookieless(Edge(root, {OLD_KEY_ID: old_signer.public_key}))
    refused = direct.get("/videos/intro.mp4", headers={"Cookie": cookies})
    assert refused.status_code == 403
    assert f"{HOST}/videos/intro.mp4" in refused.headers["X-Cfcookie-Reason"]


def test_range_requests(client: Client, video_cookies: str) -> None:
    def get(range_header: str) -> tuple[int, str | None, bytes]:
        response = client.get(
            "/videos/intro.mp4", headers={"Cookie": video_cookies, "Range": range_header}
        )
        return response.status_code, response.headers.get("Content-Range"), response.data

    assert get("bytes=0-99") == (206, "bytes 0-99/10240", VIDEO[:100])
    assert get("bytes=1000-1999") == (206, "bytes 1000-1999/10240", VIDEO[1000:2000])
    # Suffix range: the last 100 bytes are offsets 10140..10239.
    assert get("bytes=-100") == (206, "bytes 10140-10239/10240", VIDEO[10140:])
    assert get("bytes=10200-") == (206, "bytes 10200-10239/10240", VIDEO[10200:])
    status, content_range, body = get("bytes=20000-")
    assert (status, content_range) == (416, "bytes */10240")
    assert b"<Code>InvalidRange</Code>" in body
    # Not one byte range: ignored (RFC 9110 14.2; S3 serves several ranges whole), so 200.
    for ignored in ("bytes=0-1,4-5", "items=0-1", "bytes=abc", "bytes=5-2"):
        assert get(ignored) == (200, None, VIDEO), ignored


def test_head_has_the_headers_and_no_body(client: Client, video_cookies: str) -> None:
    response = client.head("/videos/intro.mp4", headers={"Cookie": video_cookies})
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == "10240"
    assert response.headers["Content-Type"] == "video/mp4"


def test_conditional_requests(client: Client, video_cookies: str) -> None:
    first = client.get("/videos/intro.mp4", headers={"Cookie": video_cookies})
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for condition in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = client.get("/videos/intro.mp4", headers={"Cookie": video_cookies, **condition})
        assert (again.status_code, again.data) == (304, b""), condition
    failed = client.get("/videos/intro.mp4", headers={"Cookie": video_cookies, "If-Match": '"x"'})
    assert failed.status_code == 412
    assert VIDEO[:16] not in failed.data

    def unmodified_since(date: str, **more: str) -> TestResponse:
        headers = {"Cookie": video_cookies, "If-Unmodified-Since": date, **more}
        return client.get("/videos/intro.mp4", headers=headers)

    before = "Sat, 01 Jan 2000 00:00:00 GMT"
    failed = unmodified_since(before)
    assert failed.status_code == 412
    assert b"<Code>PreconditionFailed</Code>" in failed.data
    assert "If-Unmodified-Since" in failed.headers["X-Cfcookie-Reason"]
    assert unmodified_since(modified).data == VIDEO  # not modified since then: served
    assert unmodified_since("not a date").data == VIDEO  # RFC 9110: an invalid date is ignored
    assert unmodified_since(before, **{"If-Match": etag}).data == VIDEO  # If-Match decides


def test_missing_file_is_404_only_after_the_signature_check(
    client: Client, video_cookies: str
) -> None:
    unsigned = client.get("/videos/missing.mp4")
    assert (unsigned.status_code, unsigned.data) == (403, cloudfront_body("MissingKey"))
    signed = client.get("/videos/missing.mp4", headers={"Cookie": video_cookies})
    assert signed.status_code == 404
    assert signed.headers["Content-Type"] == "text/xml"
    assert (
        signed.data
        == (
            f"{XML}<Error><Code>NoSuchKey</Code>"
            "<Message>The specified key does not exist.</Message>"
            "<Key>videos/missing.mp4</Key></Error>"
        ).encode()
    )


@pytest.mark.parametrize(
    "path",
    ["/videos", "/videos/", "/videos//intro.mp4", "/videos/./intro.mp4", "/videos/intro.mp4/"],
)
def test_folders_and_unnormalized_paths_name_no_file(
    client: Client, old_signer: Signer, path: str
) -> None:
    cookies = cookie_header(old_signer.sign_cookies(f"{HOST}/*", expires=later()))
    response = client.get(path, headers={"Cookie": cookies})
    assert response.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in response.data


def test_cloudfronts_size_limits(client: Client) -> None:
    # cloudfront.md: a URL at most 8,192 bytes, a whole request at most 20,480.
    longest = "/videos/" + "a" * (8192 - len(f"{HOST}/videos/"))
    assert client.get(longest).status_code == 403  # within the limit: the signature decides
    response = client.get(longest + "a")
    assert response.status_code == 414
    assert "the URL is 8193 bytes, over CloudFront's 8192" in response.headers["X-Cfcookie-Reason"]

    assert client.get("/a", headers={"Cookie": "x=" + "a" * 19_000}).status_code == 403
    response = client.get("/a", headers={"Cookie": "x=" + "a" * 20_480})
    assert response.status_code == 431
    assert "over CloudFront's 20480" in response.headers["X-Cfcookie-Reason"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_methods_other_than_get_and_head_are_405(
    client: Client, video_cookies: str, method: str
) -> None:
    response = client.open("/videos/intro.mp4", method=method, headers={"Cookie": video_cookies})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}
    assert b"<Code>MethodNotAllowed</Code>" in response.data
    # before any signature check: the method is wrong whoever asks
    assert client.open("/videos/intro.mp4", method=method).status_code == 405


def test_the_url_checked_is_the_request_target_as_sent(client: Client, old_signer: Signer) -> None:
    """%69 is "i": the same file, but not the same URL to CloudFront, which matches a canned
    policy against the URL as requested, percent-encoding included."""
    encoded = old_signer.sign_url(f"{HOST}/videos/%69ntro.mp4", expires=later())
    target = encoded.removeprefix(HOST)
    as_signed = client.get(target)
    assert (as_signed.status_code, as_signed.data) == (200, VIDEO)
    decoded = client.get(target.replace("%69", "i", 1))
    assert (decoded.status_code, decoded.data) == (403, cloudfront_body("AccessDenied"))


def test_non_ascii_path_without_a_raw_uri_from_the_server(root: Path, old_signer: Signer) -> None:
    """A server that gives no RAW_URI / REQUEST_URI: the target is rebuilt by quoting the
    decoded path, so a canned URL with percent-encoded UTF-8 still matches."""
    (root / "vidéos").mkdir()
    (root / "vidéos" / "a.mp4").write_bytes(b"accent")
    # é is U+00E9, C3 A9 in UTF-8.
    url = old_signer.sign_url(f"{HOST}/vid%C3%A9os/a.mp4?lang=en", expires=later())
    environ = EnvironBuilder(path=url.removeprefix(HOST)).get_environ()
    assert environ.pop("RAW_URI") == environ.pop("REQUEST_URI") == url.removeprefix(HOST)
    edge = Edge(root, {OLD_KEY_ID: old_signer.public_key})
    body, status, _ = run_wsgi_app(edge, environ, buffered=True)
    assert (status, b"".join(body)) == ("200 OK", b"accent")


def test_one_log_line_per_request_without_the_query(
    client: Client, old_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cfcookie_middleware.edge")
    client.get("/videos/intro.mp4")
    url = old_signer.sign_url(f"{HOST}/videos/intro.mp4", expires=later())
    client.get(url.removeprefix(HOST))
    records = [r for r in caplog.records if r.name == "cfcookie_middleware.edge"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    refused, allowed = (r.getMessage() for r in records)
    assert refused.startswith("GET /videos/intro.mp4 403 MissingKey: ")
    assert allowed.startswith("GET /videos/intro.mp4 200 allowed: canned policy")
    assert "Signature=" not in allowed


def test_configuration_errors(root: Path, old_signer: Signer) -> None:
    keys = {OLD_KEY_ID: old_signer.public_key}
    with pytest.raises(ConfigurationError, match=r"root: .*nowhere does not exist"):
        Edge(root / "nowhere", keys)
    with pytest.raises(ConfigurationError, match="is not a directory"):
        Edge(root / "videos" / "intro.mp4", keys)
    with pytest.raises(ConfigurationError, match="keys: empty"):
        Edge(root, {})
    for bad in (
        "media.example.com",
        "ftp://media.example.com",
        "https://x.example/videos",
        "https://x.example/?a",
    ):
        with pytest.raises(ConfigurationError, match="public_url"):
            Edge(root, keys, public_url=bad)


# --- real servers on loopback ------------------------------------------------------------------


def running(edge: Edge, ssl_context: ssl.SSLContext | None = None) -> AbstractContextManager[int]:
    return serving(serve(edge, ssl_context=ssl_context))


def fetch(
    port: int,
    target: str,
    headers: Mapping[str, str] | None = None,
    *,
    context: ssl.SSLContext | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with the target sent byte for byte (no client-side normalization)."""
    connection = (
        http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        if context
        else http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    )
    try:
        connection.request("GET", target, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_real_server(edge: Edge, old_signer: Signer) -> None:
    with running(edge) as port:
        origin = f"http://127.0.0.1:{port}"
        status, headers, body = fetch(port, "/videos/intro.mp4")
        assert (status, body) == (403, cloudfront_body("MissingKey"))
        assert f"{origin}/videos/intro.mp4" in headers["X-Cfcookie-Reason"]

        cookies = {"Cookie": cookie_header(old_signer.sign_cookies(f"{origin}/*", expires=later()))}
        assert fetch(port, "/videos/intro.mp4", cookies)[::2] == (200, VIDEO)
        status, headers, body = fetch(port, "/videos/intro.mp4", {**cookies, "Range": "bytes=-10"})
        assert (status, headers["Content-Range"], body) == (
            206,
            "bytes 10230-10239/10240",
            VIDEO[-10:],
        )

        # Cookies for "/*" cover these raw targets, so only the path handling stands between
        # them and the secret beside the root.
        for target in (
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/videos/../../secret.txt",
            "/videos/%2E%2E/%2E%2E/secret.txt",
            "/..%2fsecret.txt",
            "/videos/..%2F..%2Fsecret.txt",
        ):
            status, _, body = fetch(port, target, cookies)
            assert status == 404, target
            assert SECRET not in body
            assert fetch(port, target)[0] == 403, target


def test_tls(edge: Edge, old_signer: Signer, tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path, "127.0.0.1")
    certfile, keyfile = certificate.certfile, certificate.keyfile
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certfile, keyfile)
    client_context = ssl.create_default_context(cafile=str(certfile))
    with running(edge, server_context) as port:
        https = old_signer.sign_cookies(f"https://127.0.0.1:{port}/videos/*", expires=later())
        status, _, body = fetch(
            port, "/videos/intro.mp4", {"Cookie": cookie_header(https)}, context=client_context
        )
        assert (status, body) == (200, VIDEO)
        # The scheme is part of the URL checked: cookies for http:// do not cover https://.
        http = old_signer.sign_cookies(f"http://127.0.0.1:{port}/videos/*", expires=later())
        status, _, body = fetch(
            port, "/videos/intro.mp4", {"Cookie": cookie_header(http)}, context=client_context
        )
        assert (status, body) == (403, cloudfront_body("AccessDenied"))


# --- cfcookie edge -----------------------------------------------------------------------------

# Python keeps SIGINT ignored when its parent ignored it (a background job of a non-interactive
# shell, as some CI runners start test suites): restore the default so that SIGINT here is
# Ctrl-C in a terminal, then run the module exactly as `python -m cfcookie_middleware.cli`.
_BOOT = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('cfcookie_middleware.cli', run_name='__main__')"
)


def _public_key_file(folder: Path, signer: Signer) -> str:
    path = folder / "public_key.pem"
    path.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return f"{OLD_KEY_ID}={path}"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT and select() on pipes are POSIX")
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_cli_serves_until_sigint(
    root: Path, old_signer: Signer, tmp_path: Path, scheme: str
) -> None:
    key = _public_key_file(tmp_path, old_signer)
    argv = ["edge", "--root", str(root), "--public-key", key, "--port", "0"]
    context = None
    if scheme == "https":
        certificate = self_signed_certificate(tmp_path, "127.0.0.1")
        certfile, keyfile = certificate.certfile, certificate.keyfile
        argv += ["--tls-cert", str(certfile), "--tls-key", str(keyfile)]
        context = ssl.create_default_context(cafile=str(certfile))
    process = subprocess.Popen(
        [sys.executable, "-c", _BOOT, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "cfcookie edge printed nothing within 15 s"
        line = process.stdout.readline()
        found = re.search(rf"{scheme}://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        port = int(found.group(1))
        origin = found.group(0).rstrip("/")
        assert fetch(port, "/videos/intro.mp4", context=context)[0] == 403
        cookies = {"Cookie": cookie_header(old_signer.sign_cookies(f"{origin}/*", expires=later()))}
        assert fetch(port, "/videos/intro.mp4", cookies, context=context)[::2] == (200, VIDEO)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "GET /videos/intro.mp4 403 MissingKey: " in stderr
    assert "GET /videos/intro.mp4 200 allowed: " in stderr
    assert "Traceback" not in stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_cli_errors_are_one_line_and_exit_2(
    root: Path,
    old_signer: Signer,
    tmp_path: Path,
    busy_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = _public_key_file(tmp_path, old_signer)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    serve_root = ["--root", str(root), "--public-key", key]
    missing = str(tmp_path / "none.pem")
    cases = {
        "does not exist": ["--root", str(tmp_path / "nowhere"), "--public-key", key],
        "public key": ["--root", str(root), "--public-key", f"{OLD_KEY_ID}={junk}"],
        "--tls-cert and --tls-key go together": [*serve_root, "--tls-cert", str(junk)],
        "not a PEM certificate": [*serve_root, "--tls-cert", str(junk), "--tls-key", str(junk)],
        "cannot read": [*serve_root, "--tls-cert", missing, "--tls-key", missing],
        "cannot listen": [*serve_root, "--port", str(busy_port)],
        "public_url": [*serve_root, "--public-url", "media.example"],
        "--cors-origin": [*serve_root, "--cors-origin", "https://www.example.com/page"],
    }
    for needle, argv in cases.items():
        code = main(["edge", *argv])
        out, err = capsys.readouterr()
        assert (code, out) == (2, ""), needle
        assert len(err.splitlines()) == 1, err
        assert err.startswith("cfcookie: error: "), err
        assert needle in err, err


# --- CORS: a response headers policy with credentials ------------------------------------------

PAGE = "https://www.example.com"
# What the CORS protocol (Fetch standard) and the issue ask of a credentialed answer, written
# out: the exact origin, credentials, and the headers players read.
CREDENTIALED = {
    "Access-Control-Allow-Origin": PAGE,
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges",
}
PREFLIGHT = {"Origin": PAGE, "Access-Control-Request-Method": "GET"}


@pytest.fixture
def cors(root: Path, old_signer: Signer) -> Client:
    edge = Edge(
        root, {OLD_KEY_ID: old_signer.public_key}, cors_origins=["HTTPS://www.example.com:443"]
    )
    return cookieless(edge)


def cors_headers(response: TestResponse) -> dict[str, str]:
    return {
        name: value for name, value in response.headers.items() if name.startswith("Access-Control")
    }


def test_cors_answers_an_allowed_origin_with_credentials(cors: Client, video_cookies: str) -> None:
    response = cors.get("/videos/intro.mp4", headers={"Origin": PAGE, "Cookie": video_cookies})
    assert (response.status_code, response.data) == (200, VIDEO)
    assert cors_headers(response) == CREDENTIALED
    assert response.headers["Vary"] == "Origin"
    ranged = cors.get(
        "/videos/intro.mp4",
        headers={"Origin": PAGE, "Cookie": video_cookies, "Range": "bytes=0-9"},
    )
    assert (ranged.status_code, ranged.headers["Content-Range"]) == (206, "bytes 0-9/10240")
    assert cors_headers(ranged) == CREDENTIALED


def test_cors_headers_ride_on_the_edges_own_refusals(cors: Client) -> None:
    """Undocumented for CloudFront's own 403s: the edge sends them (module docstring)."""
    refused = cors.get("/videos/intro.mp4", headers={"Origin": PAGE})
    assert (refused.status_code, refused.data) == (403, cloudfront_body("MissingKey"))
    assert cors_headers(refused) == CREDENTIALED


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://www.example.com", "https://www.example.com:8443"]
)
def test_cors_gives_another_origin_nothing(cors: Client, video_cookies: str, origin: str) -> None:
    response = cors.get("/videos/intro.mp4", headers={"Origin": origin, "Cookie": video_cookies})
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"  # so a cache never hands it to the allowed page


def test_without_cors_origins_no_cors_headers_and_no_options(
    client: Client, video_cookies: str
) -> None:
    response = client.get("/videos/intro.mp4", headers={"Origin": PAGE, "Cookie": video_cookies})
    assert cors_headers(response) == {}
    assert "Vary" not in response.headers
    assert client.options("/videos/intro.mp4", headers=PREFLIGHT).status_code == 405


def test_a_preflight_without_cookies_is_refused_as_any_request(cors: Client) -> None:
    """Browsers never send cookies on a preflight: on a restricted behavior it is a 403."""
    response = cors.options("/videos/intro.mp4", headers=PREFLIGHT)
    assert (response.status_code, response.data) == (403, cloudfront_body("MissingKey"))
    assert "CORS preflight" in response.headers["X-Cfcookie-Reason"]
    assert response.headers["Access-Control-Allow-Origin"] == PAGE


def test_an_options_request_with_cookies_is_answered(cors: Client, video_cookies: str) -> None:
    response = cors.options(
        "/videos/intro.mp4",
        headers={**PREFLIGHT, "Access-Control-Request-Headers": "range", "Cookie": video_cookies},
    )
    assert (response.status_code, response.data) == (200, b"")
    assert cors_headers(response) == {
        "Access-Control-Allow-Origin": PAGE,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Access-Control-Allow-Headers": "range",
        "Access-Control-Max-Age": "600",
    }
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    # Still signed for /videos/* only.
    outside = cors.options("/private/doc.txt", headers={**PREFLIGHT, "Cookie": video_cookies})
    assert outside.status_code == 403
    assert cors.post("/videos/intro.mp4", headers={"Cookie": video_cookies}).status_code == 405


@pytest.mark.parametrize(
    "origin",
    ["*", "https://www.example.com/", "www.example.com", "ftp://x.example", "https://a:b@x.y"],
)
def test_cors_origins_must_be_origins(root: Path, old_signer: Signer, origin: str) -> None:
    with pytest.raises(ConfigurationError, match=r"cors_origins \(--cors-origin\)"):
        Edge(root, {OLD_KEY_ID: old_signer.public_key}, cors_origins=[origin])
    with pytest.raises(ConfigurationError, match="list of origins"):
        Edge(root, {OLD_KEY_ID: old_signer.public_key}, cors_origins=PAGE)
