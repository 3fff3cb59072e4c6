"""The pytest plugin ``cfcookie_middleware.testing``: its fixtures, used here directly (the plugin
is active in this repository through its entry point), a user's test suite run with ``pytester``,
and every failure message of ``assert_cloudfront_cookies``.

Set-Cookie headers are written out by hand from RFC 6265's syntax, and the verdicts they should
get follow from CloudFront's rules (cloudfront.md), not from the code under test.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import importlib.util
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2
import pytest
from conftest import require
from cryptography.hazmat.primitives.asymmetric import rsa
from middleware_helpers import MEDIA, cookie_header
from werkzeug.wrappers import Response

import cfcookie_middleware.testing
from cfcookie_middleware import Signer, Verifier
from cfcookie_middleware.testing import (
    TEST_KEY_PAIR_ID,
    assert_cloudfront_cookies,
    running_edge,
    set_cookie_headers,
)

try:
    from django.conf import settings
    from django.http import HttpResponse
    from django.utils.functional import empty
except ImportError:  # pragma: no cover - a user's machine without the extra
    settings = None

pytest_plugins = ["pytester"]

INSIDE = f"{MEDIA}/videos/a.mp4"
OUTSIDE = f"{MEDIA}/images/a.jpg"
ATTRIBUTES = "; Domain=example.com; Path=/; Secure; HttpOnly; SameSite=Lax"
PAGE = "https://www.example.com/videos/"
"""The app's page that set the cookies: Domain=example.com covers it and the media host."""


def later(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


def fetch(url: str, path: str, cookie: str | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# ---- the plugin is registered and its fixtures fit together ------------------------------------
def test_the_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    (entry,) = [
        entry
        for entry in importlib.metadata.entry_points(group="pytest11")
        if entry.name == "cfcookie"
    ]
    assert entry.value == "cfcookie_middleware.testing"
    assert pytestconfig.pluginmanager.get_plugin("cfcookie") is cfcookie_middleware.testing


def test_the_fixtures_fit_together(
    cloudfront_key: rsa.RSAPrivateKey,
    cloudfront_key_pair_id: str,
    cloudfront_signer: Signer,
    cloudfront_verifier: Verifier,
    rsa2048: rsa.RSAPrivateKey,
) -> None:
    assert isinstance(cloudfront_key, rsa.RSAPrivateKey)
    assert cloudfront_key.key_size == 2048
    assert cloudfront_key_pair_id == "K2TESTKEYPAIR"
    assert cloudfront_signer.key_pair_id == cloudfront_key_pair_id
    assert (
        cloudfront_signer.public_key.public_numbers()
        == cloudfront_key.public_key().public_numbers()
    )
    cookies = cloudfront_signer.sign_cookies(f"{MEDIA}/videos/*", expires=later())
    assert cloudfront_verifier.check_cookies(INSIDE, cookies).allowed
    # Another key under the same ID is a forgery to the verifier.
    forged = Signer(cloudfront_key_pair_id, rsa2048).sign_cookies(
        f"{MEDIA}/videos/*", expires=later()
    )
    assert cloudfront_verifier.check_cookies(INSIDE, forged).code == "AccessDenied"


def test_the_edge_fixture_serves_its_root_to_signed_requests_only(
    cloudfront_edge: Any, cloudfront_signer: Signer
) -> None:
    assert cloudfront_edge.url == f"http://localhost:{cloudfront_edge.server.server_port}"
    assert list(cloudfront_edge.root.iterdir()) == []
    (cloudfront_edge.root / "videos").mkdir()
    (cloudfront_edge.root / "videos" / "a.mp4").write_bytes(b"the video")
    assert fetch(cloudfront_edge.url, "/videos/a.mp4")[0] == 403
    cookies = cloudfront_signer.sign_cookies(f"{cloudfront_edge.url}/videos/*", expires=later())
    assert fetch(cloudfront_edge.url, "/videos/a.mp4", cookie_header(cookies)) == (
        200,
        b"the video",
    )
    assert fetch(cloudfront_edge.url, "/videos/b.mp4", cookie_header(cookies))[0] == 404


def test_running_edge_answers_for_a_public_url_and_stops(
    tmp_path: Path, cloudfront_signer: Signer, cloudfront_verifier: Verifier
) -> None:
    (tmp_path / "a.mp4").write_bytes(b"the video")
    cookies = cookie_header(cloudfront_signer.sign_cookies(f"{MEDIA}/*", expires=later()))
    with running_edge(tmp_path, cloudfront_verifier, public_url=MEDIA) as edge:
        assert fetch(edge.url, "/a.mp4", cookies) == (200, b"the video")
        port = edge.server.server_port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# ---- a user's test suite, run by pytest in a fresh process -------------------------------------
USER_TESTS = """
import http.client
import socket

import flask
import pytest

from cfcookie_middleware import Rule
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.testing import assert_cloudfront_cookies

EDGE_PORT = []


@pytest.fixture
def app(cloudfront_signer, cloudfront_edge):
    app = flask.Flask(__name__)

    @app.get("/videos/")
    def videos():
        return "the videos page"

    CloudFrontCookies(
        app,
        signer=cloudfront_signer,
        rules=[Rule("/videos/*", resource=f"{cloudfront_edge.url}/videos/*")],
    )
    return app


def test_the_videos_page_opens_the_cdn(app, cloudfront_edge):
    (cloudfront_edge.root / "videos").mkdir()
    (cloudfront_edge.root / "videos" / "a.mp4").write_bytes(b"movie bytes")
    # Asked on the edge's host, so the host-only cookies would reach it in a browser.
    response = app.test_client().get("/videos/", base_url=cloudfront_edge.url)
    cookies = assert_cloudfront_cookies(response, f"{cloudfront_edge.url}/videos/a.mp4")

    connection = http.client.HTTPConnection("localhost", cloudfront_edge.server.server_port)
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    connection.request("GET", "/videos/a.mp4", headers={"Cookie": cookie})
    answer = connection.getresponse()
    assert (answer.status, answer.read()) == (200, b"movie bytes")
    connection.close()
    EDGE_PORT.append(cloudfront_edge.server.server_port)


def test_the_videos_page_opens_the_images(app, cloudfront_edge):
    response = app.test_client().get("/videos/", base_url=cloudfront_edge.url)
    assert_cloudfront_cookies(response, f"{cloudfront_edge.url}/images/a.jpg")


def test_the_edge_of_the_first_test_was_shut_down():
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", EDGE_PORT[0]), timeout=5).close()
"""


OVERRIDING_CONFTEST = """
import pytest  # another key pair ID and an ECDSA key: cookies the built-in key would refuse
from cryptography.hazmat.primitives.asymmetric import ec


@pytest.fixture(scope="session")
def cloudfront_key_pair_id():
    return "K2JCJMDEHXQW5F"


@pytest.fixture(scope="session")
def cloudfront_key():
    return ec.generate_private_key(ec.SECP256R1())
"""

OVERRIDDEN_TESTS = """
from cfcookie_middleware.testing import assert_cloudfront_cookies


def test_the_default_verifier_follows_the_overrides(cloudfront_signer):
    cookies = cloudfront_signer.sign_cookies(
        "https://media.example.com/videos/*", expires=2_000_000_000
    )
    headers = [f"{name}={value}; Secure; HttpOnly" for name, value in cookies.items()]
    url = "https://media.example.com/videos/a.mp4"
    page = "https://media.example.com/"  # host-only cookies, set on the media host itself
    assert assert_cloudfront_cookies(headers, url, now=1_900_000_000, page_url=page) == cookies
"""


SIGNER_OVERRIDE = """
import pytest
from cfcookie_middleware import Signer


@pytest.fixture(params=["SHA1", "SHA256"])  # function scope, below the plugin's session scope
def cloudfront_signer(request, cloudfront_key, cloudfront_key_pair_id):
    return Signer(cloudfront_key_pair_id, cloudfront_key, hash_algorithm=request.param)
"""


@pytest.mark.parametrize(
    ("conftest", "passed"), [(OVERRIDING_CONFTEST, 1), (SIGNER_OVERRIDE, 2)], ids=["key", "signer"]
)
def test_assert_cloudfront_cookies_trusts_a_conftests_overrides(
    pytester: pytest.Pytester, conftest: str, passed: int
) -> None:
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_user=OVERRIDDEN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=passed)


def test_a_users_suite_passes_and_explains_its_failure(pytester: pytest.Pytester) -> None:
    require(
        importlib.util.find_spec("flask") is not None,
        'Flask is not installed: pip install "cfcookie-middleware[flask]"',
    )
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2, failed=1)
    output = result.stdout.str()
    assert "FAILED test_user.py::test_the_videos_page_opens_the_images" in output
    result.stdout.fnmatch_lines(
        [
            "E * CloudFront cookies: verifier check failed: CloudFront would refuse "
            "http://localhost:*/images/a.jpg with these cookies",
            "E * Set-Cookie headers seen (3):",
            "E * CloudFront-Policy=*...(* chars); Path=/; Secure; HttpOnly; SameSite=Lax",
            "E * verifier: AccessDenied: policy resource http://localhost:*/videos/* does not "
            "cover http://localhost:*/images/a.jpg",
        ]
    )
    # The helper hides its own frame: the traceback ends at the user's call.
    assert "def assert_cloudfront_cookies(" not in output


# ---- assert_cloudfront_cookies: each check and its message -------------------------------------
@pytest.fixture
def custom_set(cloudfront_signer: Signer) -> list[str]:
    """A custom-policy set for /videos/*, as Set-Cookie headers written by hand."""
    cookies = cloudfront_signer.sign_cookies(f"{MEDIA}/videos/*", expires=later())
    return [f"{name}={value}{ATTRIBUTES}" for name, value in cookies.items()]


def _named(headers: list[str], name: str) -> int:
    return next(i for i, header in enumerate(headers) if header.startswith(name + "="))


def _drop(name: str) -> Callable[[list[str]], list[str]]:
    return lambda headers: [h for h in headers if not h.startswith(name + "=")]


def _edit(name: str, change: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    def edited(headers: list[str]) -> list[str]:
        headers = list(headers)
        i = _named(headers, name)
        headers[i] = change(headers[i])
        return headers

    return edited


def _value(name: str, change: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    def changed(header: str) -> str:
        pair, _, rest = header.partition(";")
        value = pair.partition("=")[2]
        return f"{name}={change(value)};{rest}"

    return _edit(name, changed)


FAILURES = {
    "none": (
        lambda headers: ["session=abc; Path=/; HttpOnly"],
        "cookie set check failed: no CloudFront-* Set-Cookie header in the response",
        "verifier: MissingKey: ",
    ),
    "missing-signature": (
        _drop("CloudFront-Signature"),
        "cookie set check failed: missing CloudFront-Signature: a set is CloudFront-Policy or "
        "CloudFront-Expires, CloudFront-Signature and CloudFront-Key-Pair-Id",
        "verifier: MalformedSignature: ",
    ),
    "missing-policy": (
        _drop("CloudFront-Policy"),
        "cookie set check failed: missing CloudFront-Policy (or CloudFront-Expires)",
        "verifier: MalformedPolicy: ",
    ),
    "sent-twice": (
        lambda headers: [*headers, headers[_named(headers, "CloudFront-Key-Pair-Id")]],
        "cookie set check failed: CloudFront-Key-Pair-Id sent more than once",
        "verifier: allowed: ",
    ),
    "policy-and-expires": (
        lambda headers: [*headers, f"CloudFront-Expires=2000000000{ATTRIBUTES}"],
        "cookie set check failed: both CloudFront-Policy and CloudFront-Expires were sent",
        "verifier: MalformedPolicy: ",
    ),
    "quoted": (
        _value("CloudFront-Signature", lambda value: f'"{value}"'),
        "cookie values check failed: CloudFront-Signature is quoted",
        "verifier: MalformedSignature: ",
    ),
    "percent-encoded": (
        _value("CloudFront-Policy", lambda value: value.replace("_", "%5F") + "%7E"),
        "cookie values check failed: CloudFront-Policy holds characters outside CloudFront's "
        "base64 alphabet",
        "verifier: MalformedPolicy: ",
    ),
    "empty": (
        _value("CloudFront-Key-Pair-Id", lambda value: ""),
        "cookie values check failed: CloudFront-Key-Pair-Id is empty",
        "verifier: MissingKey: ",
    ),
    "not-secure": (
        _edit("CloudFront-Policy", lambda header: header.replace("; Secure", "")),
        "Secure check failed: CloudFront-Policy lacks Secure (HTTPS only)",
        "verifier: allowed: ",
    ),
    "host-only": (
        lambda headers: [header.replace("; Domain=example.com", "") for header in headers],
        f"browser check failed: a browser would not send CloudFront-Policy to {INSIDE}: it is "
        "host-only for www.example.com (no Domain attribute) and the URL's host is "
        "media.example.com",
        "verifier: MissingKey: ",
    ),
    "path-elsewhere": (
        _edit("CloudFront-Policy", lambda header: header.replace("; Path=/", "; Path=/images/")),
        f"browser check failed: a browser would not send CloudFront-Policy to {INSIDE}: "
        "Path=/images/ does not cover /videos/a.mp4",
        "verifier: MalformedPolicy: ",
    ),
    "path-prefix-not-a-directory": (
        _edit("CloudFront-Policy", lambda header: header.replace("; Path=/", "; Path=/vid")),
        f"browser check failed: a browser would not send CloudFront-Policy to {INSIDE}: "
        "Path=/vid does not cover /videos/a.mp4",
        "verifier: MalformedPolicy: ",
    ),
    "domain-elsewhere": (
        _edit("CloudFront-Signature", lambda header: header.replace("example.com", "example.org")),
        f"browser check failed: a browser would not keep CloudFront-Signature from {PAGE}: "
        "Domain=example.org does not cover the page's host www.example.com",
        "verifier: MalformedSignature: ",
    ),
    "expired": (
        _edit("CloudFront-Key-Pair-Id", lambda header: header + "; Max-Age=0"),
        f"browser check failed: a browser would not keep CloudFront-Key-Pair-Id from {PAGE}: it "
        "has expired",
        "verifier: MissingKey: ",
    ),
    "not-httponly": (
        lambda headers: [header.replace("; HttpOnly", "") for header in headers],
        "HttpOnly check failed: CloudFront-Policy, CloudFront-Signature, "
        "CloudFront-Key-Pair-Id lack HttpOnly",
        "verifier: allowed: ",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_check_names_itself_the_headers_and_the_verdict(
    case: str, custom_set: list[str]
) -> None:
    mutate, check, verdict = FAILURES[case]
    headers = mutate(custom_set)
    with pytest.raises(AssertionError) as raised:
        assert_cloudfront_cookies(headers, INSIDE, page_url=PAGE)
    message = str(raised.value)
    assert message.startswith(f"CloudFront cookies: {check}"), message
    assert f"\n  url: {INSIDE}\n" in message
    assert f"  Set-Cookie headers seen ({len(headers)}):" in message
    assert verdict in message, message


def test_a_host_only_cookie_is_named_by_the_page_host_a_test_client_used(
    custom_set: list[str],
) -> None:
    """Starlette's and Django's test clients ask on "testserver", a host without a dot, which
    http.cookiejar files as "testserver.local"; the message names the host the test used."""
    host_only = [header.replace("; Domain=example.com", "") for header in custom_set]
    with pytest.raises(AssertionError) as raised:
        assert_cloudfront_cookies(host_only, INSIDE, page_url="http://testserver/videos")
    assert "host-only for testserver (no Domain attribute)" in str(raised.value)


def test_cookies_a_browser_would_not_send_are_the_refusal_that_was_expected(
    custom_set: list[str],
) -> None:
    """A grant's own cookie path (``Path=/videos``) keeps its cookies from other URLs: asking
    that another URL is refused is met, with what the browser sends there (nothing)."""
    narrowed = [header.replace("; Path=/", "; Path=/videos") for header in custom_set]
    assert (
        assert_cloudfront_cookies(narrowed, f"{MEDIA}/users/a", page_url=PAGE, allowed=False) == {}
    )
    with pytest.raises(AssertionError, match="Path=/videos does not cover /users/a"):
        assert_cloudfront_cookies(narrowed, f"{MEDIA}/users/a", page_url=PAGE)


def test_the_verifier_check_says_why_cloudfront_refuses(custom_set: list[str]) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_cloudfront_cookies(custom_set, OUTSIDE, page_url=PAGE)
    message = str(raised.value)
    assert message.startswith(
        f"CloudFront cookies: verifier check failed: CloudFront would refuse {OUTSIDE}"
    )
    assert (
        f"verifier: AccessDenied: policy resource {MEDIA}/videos/* does not cover {OUTSIDE}"
        in message
    )

    with pytest.raises(
        AssertionError, match=r"verifier: AccessDenied: the custom policy .* expired"
    ):
        assert_cloudfront_cookies(custom_set, INSIDE, page_url=PAGE, now=later(7200))
    with pytest.raises(
        AssertionError, match=r"CloudFront would serve .* but a refusal was expected"
    ):
        assert_cloudfront_cookies(custom_set, INSIDE, page_url=PAGE, allowed=False)


def test_long_values_are_shortened_in_the_message(custom_set: list[str]) -> None:
    signature = custom_set[_named(custom_set, "CloudFront-Signature")].split(";")[0].split("=")[1]
    with pytest.raises(AssertionError) as raised:
        assert_cloudfront_cookies(custom_set, OUTSIDE, page_url=PAGE)
    message = str(raised.value)
    assert signature not in message
    assert (
        f"CloudFront-Signature={signature[:40]}...({len(signature)} chars){ATTRIBUTES}" in message
    )


def test_the_default_verifier_hints_at_another_key(rsa2048: rsa.RSAPrivateKey) -> None:
    cookies = Signer("K3APPSOWNKEY", rsa2048).sign_cookies(f"{MEDIA}/videos/*", expires=later())
    headers = [f"{name}={value}{ATTRIBUTES}" for name, value in cookies.items()]
    with pytest.raises(AssertionError) as raised:
        assert_cloudfront_cookies(headers, INSIDE, page_url=PAGE)
    assert "verifier: InvalidKey: " in str(raised.value)
    assert (
        "the default verifier trusts the cloudfront_signer fixture's key; if the app signs with "
        "another key, pass verifier= trusting it"
    ) in str(raised.value)
    verifier = Verifier({"K3APPSOWNKEY": rsa2048.public_key()})
    assert assert_cloudfront_cookies(headers, INSIDE, page_url=PAGE, verifier=verifier) == cookies


def test_passing_checks_return_the_cookies(
    custom_set: list[str], cloudfront_signer: Signer
) -> None:
    values = assert_cloudfront_cookies(custom_set, INSIDE, page_url=PAGE)
    assert set(values) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert values["CloudFront-Key-Pair-Id"] == TEST_KEY_PAIR_ID
    assert assert_cloudfront_cookies(custom_set, OUTSIDE, page_url=PAGE, allowed=False) == values
    plain = [header.replace("; Secure", "").replace("; HttpOnly", "") for header in custom_set]
    assert (
        assert_cloudfront_cookies(plain, INSIDE, page_url=PAGE, secure=False, httponly=False)
        == values
    )

    bound = cloudfront_signer.sign_cookies(INSIDE, expires=later(), ip_address="203.0.113.9")
    headers = [f"{name}={value}{ATTRIBUTES}" for name, value in bound.items()]
    assert (
        assert_cloudfront_cookies(headers, INSIDE, page_url=PAGE, client_ip="203.0.113.9") == bound
    )
    with pytest.raises(AssertionError, match=r"client IP 198\.51\.100\.7 is outside"):
        assert_cloudfront_cookies(headers, INSIDE, page_url=PAGE, client_ip="198.51.100.7")


# ---- reading each kind of response -------------------------------------------------------------
@pytest.fixture
def configured_django() -> Iterator[None]:
    """Django's settings for this test only, left unconfigured afterwards as test_django needs."""
    require(
        settings is not None, 'Django is not installed: pip install "cfcookie-middleware[django]"'
    )
    if settings.configured:
        yield
        return
    settings.configure()
    try:
        yield
    finally:
        settings._wrapped = empty


def test_werkzeug_httpx_and_httpx2_responses(custom_set: list[str]) -> None:
    other = "session=abc; Path=/; HttpOnly"
    headers = [("Content-Type", "text/plain"), ("Set-Cookie", other)]
    headers += [("Set-Cookie", value) for value in custom_set]
    expected = [other, *custom_set]
    responses = [
        Response("ok", headers=headers),
        httpx.Response(200, headers=headers),
        httpx2.Response(200, headers=headers),
    ]
    for response in responses:
        assert set_cookie_headers(response) == expected
        assert (
            assert_cloudfront_cookies(response, INSIDE, page_url=PAGE)["CloudFront-Key-Pair-Id"]
            == TEST_KEY_PAIR_ID
        )
    assert set_cookie_headers(tuple(custom_set)) == custom_set


def test_django_responses(configured_django: None, cloudfront_signer: Signer) -> None:
    cookies = cloudfront_signer.sign_cookies(f"{MEDIA}/videos/*", expires=later())
    response = HttpResponse("ok")
    for name, value in cookies.items():
        response.set_cookie(
            name, value, secure=True, httponly=True, samesite="Lax", domain="example.com"
        )
    response.set_cookie("session", "abc")
    read = set_cookie_headers(response)
    assert len(read) == 4
    assert read[0].startswith(f"CloudFront-Policy={cookies['CloudFront-Policy']}; ")
    assert assert_cloudfront_cookies(response, INSIDE, page_url=PAGE) == cookies

    # A value that http.cookies has to quote: the helper catches what CloudFront would refuse.
    response.set_cookie("CloudFront-Signature", "a b", secure=True, httponly=True)
    with pytest.raises(AssertionError, match="CloudFront-Signature is quoted"):
        assert_cloudfront_cookies(response, INSIDE, page_url=PAGE)


def test_other_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot read Set-Cookie headers from dict"):
        set_cookie_headers({"Set-Cookie": "a=b"})
    with pytest.raises(TypeError, match="a list must hold Set-Cookie header values"):
        set_cookie_headers([b"CloudFront-Policy=x"])


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://media.example.com/videos/a.mp4", True),
        ("http://media.example.com/videos/a.mp4", False),  # Secure: https only...
        ("http://127.0.0.1:8001/videos/a.mp4", True),  # ...or a loopback host, as browsers do
        ("http://localhost:8001/videos/a.mp4", True),
    ],
)
def test_secure_cookies_travel_over_https_or_to_loopback(
    cloudfront_signer: Signer, url: str, sent: bool
) -> None:
    resource = f"{url.split('/videos/')[0]}/videos/*"
    cookies = cloudfront_signer.sign_cookies(resource, expires=later())
    headers = [f"{name}={value}; Path=/; Secure; HttpOnly" for name, value in cookies.items()]
    page = url.replace("/videos/a.mp4", "/")  # host-only cookies, set on the URL's own host
    if sent:
        assert assert_cloudfront_cookies(headers, url, page_url=page) == cookies
        return
    with pytest.raises(AssertionError, match="it is Secure and the URL is not https"):
        assert_cloudfront_cookies(headers, url, page_url=page)


def test_the_page_comes_from_the_response_or_must_be_given(custom_set: list[str]) -> None:
    with pytest.raises(TypeError, match="page_url: this response does not say which URL"):
        assert_cloudfront_cookies(custom_set, INSIDE)
    headers = [("Set-Cookie", value) for value in custom_set]
    asked = httpx2.Response(200, headers=headers, request=httpx2.Request("GET", PAGE))
    assert assert_cloudfront_cookies(asked, INSIDE)
    elsewhere = httpx2.Request("GET", "https://www.example.org/videos/")
    with pytest.raises(AssertionError, match=r"Domain=example\.com does not cover the page's host"):
        assert_cloudfront_cookies(httpx2.Response(200, headers=headers, request=elsewhere), INSIDE)
