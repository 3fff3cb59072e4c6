"""The example apps, end to end through each framework's test client and as real servers.

Every CloudFront cookie set a response hands out is judged by ``Verifier`` (CloudFront's rules,
written independently of the middleware), against the media URLs the page itself links to: the
pages and the rules must agree, or a viewer would get a page whose videos CloudFront refuses.
"""

from __future__ import annotations

import http.client
import importlib
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import free_ports
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.testclient import TestClient
from werkzeug.test import Client

from cfcookie_middleware import ConfigurationError, Signer
from cfcookie_middleware.demo.site import REFRESH_PATH, load_settings, port
from cfcookie_middleware.verify import Verifier
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

KEY_ID = "K2JCJMDEHXQW5F"
MEDIA = "http://localhost:8001"
"""The examples' default MEDIA_URL (the local CloudFront stand-in of a demo)."""
NAMES = (
    "CloudFront-Policy",
    "CloudFront-Expires",
    "CloudFront-Signature",
    "CloudFront-Key-Pair-Id",
    "CloudFront-Hash-Algorithm",
)
EXAMPLES = ("flask_app", "starlette_app", "fastapi_app", "wsgi_app")
CHECKED = {
    "flask_app": "Flask",
    "starlette_app": "Starlette",
    "fastapi_app": "FastAPI",
    "wsgi_app": "",
}
"""The framework whose router the route check reads in each example (none in plain WSGI)."""
CHECK_LOGGER = "cfcookie_middleware.routes"
ROOT = Path(__file__).resolve().parent.parent
# The example's own variables, cleared so a developer's shell cannot change what is tested.
ENV_NAMES = ("MEDIA_URL", "COOKIE_DOMAIN", "COOKIE_SECURE", "SECRET_KEY", "PORT")
KEY_ENV_NAMES = (
    "CLOUDFRONT_KEY_PAIR_ID",
    "CLOUDFRONT_PRIVATE_KEY",
    "CLOUDFRONT_PRIVATE_KEY_FILE",
    "CLOUDFRONT_HASH_ALGORITHM",
    "CLOUDFRONT_PRIVATE_KEY_PASSPHRASE",
)


@dataclass
class Reply:
    status: int
    set_cookies: list[str]
    location: str | None
    text: str

    def cloudfront(self) -> dict[str, str]:
        """The ``CloudFront-*`` cookies this response sets, name -> value."""
        found = {}
        for header in self.set_cookies:
            name, _, value = header.split(";", 1)[0].partition("=")
            if name.strip().startswith("CloudFront-"):
                found[name.strip()] = value.strip()
        return found

    def attributes(self, name: str) -> set[str]:
        """The attributes of the ``Set-Cookie`` for ``name``, lower-cased (``secure``,
        ``domain=.example.com``...)."""
        for header in self.set_cookies:
            first, *rest = header.split(";")
            if first.split("=", 1)[0].strip() == name:
                return {attribute.strip().lower() for attribute in rest}
        raise AssertionError(f"no Set-Cookie for {name} in {self.set_cookies}")

    def media_urls(self) -> list[str]:
        """Every ``src``/``poster``/``href`` of the page that points at the media host."""
        urls = [unescape(u) for u in re.findall(r'(?:src|poster|href)="([^"]*)"', self.text)]
        return [url for url in urls if url.startswith(MEDIA)]


class Browser:
    """One viewer with a cookie jar, over a framework's test client (no redirects followed)."""

    def __init__(self, app: Any, base_url: str = "https://localhost") -> None:
        self.base_url = base_url
        self.client = (
            TestClient(app, base_url=base_url) if isinstance(app, Starlette) else Client(app)
        )

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        if isinstance(self.client, Client):
            response = self.client.open(path, base_url=self.base_url, method=method, data=form)
            return Reply(
                response.status_code,
                response.headers.getlist("Set-Cookie"),
                response.headers.get("Location"),
                response.get_data(as_text=True),
            )
        reply = self.client.request(method, path, data=form, follow_redirects=False)
        return Reply(
            reply.status_code,
            reply.headers.get_list("set-cookie"),
            reply.headers.get("location"),
            reply.text,
        )

    def login(self, user: str) -> Reply:
        return self.request("POST", "/login", {"user": user})

    def set_cookie(self, name: str, value: str) -> None:
        if isinstance(self.client, Client):
            self.client.set_cookie(name, value, domain="localhost")
        else:
            self.client.cookies.set(name, value)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_NAMES, *KEY_ENV_NAMES):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def verifier(rsa2048: rsa.RSAPrivateKey) -> Verifier:
    return Verifier({KEY_ID: rsa2048.public_key()})


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(f"examples.{request.param}")


@pytest.fixture
def signer(rsa2048: rsa.RSAPrivateKey) -> Signer:
    return Signer(KEY_ID, rsa2048)


@pytest.fixture
def browser(example: ModuleType, signer: Signer) -> Browser:
    return Browser(example.create_app(signer))


def test_anonymous_viewer_gets_no_cloudfront_cookies(browser: Browser) -> None:
    for path in ("/videos", "/users/alice/library"):
        reply = browser.request("GET", path)
        assert (reply.status, reply.location) == (303, "/login"), path
        assert reply.cloudfront() == {}, path


def test_videos_page_grants_the_catalogue_only(browser: Browser, verifier: Verifier) -> None:
    assert browser.login("alice").status == 303
    reply = browser.request("GET", "/videos")
    assert reply.status == 200
    cookies = reply.cloudfront()
    assert cookies["CloudFront-Key-Pair-Id"] == KEY_ID
    media = reply.media_urls()
    # two clips, each a poster, an HLS stream, an MP4 source and a download link to the MP4
    assert len(media) == 8
    for url in [*media, f"{MEDIA}/videos/x.mp4"]:
        assert verifier.check_cookies(url, cookies).allowed, url
    for url in (
        f"{MEDIA}/users/bob/x.mp4",
        f"{MEDIA}/users/alice/x.mp4",
        "http://other:8001/videos/x",
    ):
        decision = verifier.check_cookies(url, cookies)
        assert (decision.allowed, decision.code) == (False, "AccessDenied"), url
    # The defaults (host-only, Secure, HttpOnly, SameSite=Lax, session cookie), and the
    # catalogue rule's own cookie path.
    assert reply.attributes("CloudFront-Signature") == {
        "path=/videos",
        "secure",
        "httponly",
        "samesite=lax",
    }


def test_own_library_grants_only_that_users_files(browser: Browser, verifier: Verifier) -> None:
    browser.login("alice")
    reply = browser.request("GET", "/users/alice/library")
    assert reply.status == 200
    cookies = reply.cloudfront()
    media = reply.media_urls()
    assert len(media) == 8  # alice's two clips, as the catalogue's
    for url in [*media, f"{MEDIA}/users/alice/x.mp4"]:
        assert verifier.check_cookies(url, cookies).allowed, url
    for url in (f"{MEDIA}/users/bob/x.mp4", f"{MEDIA}/videos/x.mp4", f"{MEDIA}/users/alicex/y"):
        assert verifier.check_cookies(url, cookies).code == "AccessDenied", url


def test_the_refresh_route_answers_a_viewer_with_the_catalogues_grant(
    browser: Browser, verifier: Verifier
) -> None:
    """What a playing page calls to keep its cookies fresh: 401 and nothing for a stranger; for
    a viewer, 204 with the catalogue's grant when one is due (here the first), and the videos
    page names the route for its player script."""
    anonymous = browser.request("GET", REFRESH_PATH)
    assert (anonymous.status, anonymous.cloudfront()) == (401, {})
    browser.login("alice")
    refreshed = browser.request("GET", REFRESH_PATH)
    assert refreshed.status == 204
    cookies = refreshed.cloudfront()
    assert verifier.check_cookies(f"{MEDIA}/videos/intro/index.m3u8", cookies).allowed
    assert not verifier.check_cookies(f"{MEDIA}/users/alice/holiday.mp4", cookies).allowed
    assert "path=/videos" in refreshed.attributes("CloudFront-Policy")
    assert f'refreshCookies("{REFRESH_PATH}"' in browser.request("GET", "/videos").text


def test_another_users_library_is_forbidden_and_grants_nothing(browser: Browser) -> None:
    browser.login("alice")
    reply = browser.request("GET", "/users/bob/library")
    assert reply.status == 403
    assert reply.cloudfront() == {}


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "POST", "PUT", "DELETE"])
def test_another_method_on_another_users_library_grants_nothing(
    example: ModuleType, browser: Browser, method: str
) -> None:
    """Logged-in bob asks for alice's library with another method. Flask answers OPTIONS
    itself (200, with an Allow header) without running the view that checks ownership, and
    the others answer 405: only the view's own answer to a GET may earn cookies."""
    browser.login("bob")
    reply = browser.request(method, "/users/alice/library")
    if (example.__name__, method) == ("examples.flask_app", "OPTIONS"):
        assert reply.status == 200  # the framework's answer: the view never ran
    assert reply.cloudfront() == {}
    assert browser.request("GET", "/users/bob/library").cloudfront()  # bob's own, by GET


def test_logout_clears_every_cloudfront_cookie_and_the_session(browser: Browser) -> None:
    browser.login("alice")
    assert browser.request("GET", "/videos").cloudfront()
    reply = browser.request("POST", "/logout")
    assert (reply.status, reply.location) == (303, "/login")
    assert reply.cloudfront() == dict.fromkeys(NAMES, "")
    for name in NAMES:
        assert "max-age=0" in reply.attributes(name), name
    after = browser.request("GET", "/videos")
    assert (after.status, after.cloudfront()) == (303, {})


def test_the_route_check_finds_a_route_for_every_pattern(
    example: ModuleType, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """At the app's first call the check reads the example's router and warns of nothing: its
    rules and ``clear_on`` all name routes. The plain WSGI app (the demo's) has no router the
    check reads, so it says so at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware.routes")
    Browser(example.create_app(signer)).request("GET", "/login")
    framework = CHECKED[example.__name__.removeprefix("examples.")]
    given = load_settings({}).middleware_options()
    expected = (
        f"cfcookie: {len(given['rules']) + len(given['clear_on'])} patterns checked against "
        f"the {framework} app"
        if framework
        else "cfcookie: rules not checked: no router the check reads found in the app"
    )
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == CHECK_LOGGER]
    assert logged == [(logging.DEBUG, expected)]


def test_unknown_user_cannot_log_in(browser: Browser) -> None:
    assert browser.login("mallory").status == 401
    reply = browser.request("GET", "/videos")
    assert (reply.status, reply.cloudfront()) == (303, {})


def test_forged_session_is_anonymous(example: ModuleType, signer: Signer) -> None:
    app = example.create_app(signer, secret_key="s3cret")
    session = Browser(app).login("alice").set_cookies[0].split(";", 1)[0].split("=", 1)
    assert session[0] == "session"
    # Control: the genuine cookie, carried by another viewer, is a login.
    carried = Browser(app)
    carried.set_cookie(*session)
    assert carried.request("GET", "/videos").status == 200
    # Shaped like a session cookie (the plain WSGI app's is user.issued.nonce.hex-HMAC), not
    # signed with the app's secret.
    forged = Browser(app)
    forged.set_cookie("session", "alice.1800000000.00." + "0" * 64)
    reply = forged.request("GET", "/videos")
    assert (reply.status, reply.cloudfront()) == (303, {})


def test_a_wsgi_session_ends_at_logout_and_after_12_hours(signer: Signer) -> None:
    """The plain WSGI app's own session: a copy of the cookie must not outlive a logout, and
    no session lasts for ever."""
    from cfcookie_middleware.demo.app import ExampleApp

    now = [1_800_000_000.0]
    app = ExampleApp(load_settings({}, secret_key="s3cret"), clock=lambda: now[0])
    served = CloudFrontCookieMiddleware(
        app, signer=signer, when=app.logged_in, **app.settings.middleware_options()
    )

    def copy_of_a_login() -> tuple[Browser, Browser]:
        first = Browser(served)
        name, value = first.login("alice").set_cookies[0].split(";", 1)[0].split("=", 1)
        copy = Browser(served)
        copy.set_cookie(name, value)
        assert copy.request("GET", "/videos").status == 200
        return first, copy

    first, copy = copy_of_a_login()
    first.request("POST", "/logout")
    reply = copy.request("GET", "/videos")
    assert (reply.status, reply.cloudfront()) == (303, {})

    _, copy = copy_of_a_login()
    now[0] += 12 * 3600
    reply = copy.request("GET", "/videos")
    assert (reply.status, reply.cloudfront()) == (303, {})


def test_production_settings_from_the_environment(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch, rsa2048: rsa.RSAPrivateKey
) -> None:
    """What a deployment sets: the key from env (``Signer.from_env``), the CDN's URL and a
    cookie domain covering the app's and the CDN's hosts."""
    monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", "KENVKEY0000001")
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY", _pem(rsa2048).decode())
    monkeypatch.setenv("MEDIA_URL", "https://media.example.com/")
    monkeypatch.setenv("COOKIE_DOMAIN", ".example.com")
    viewer = Browser(example.create_app(), base_url="https://app.example.com")
    viewer.login("alice")
    reply = viewer.request("GET", "/videos")
    assert 'src="https://media.example.com/videos/intro.mp4"' in reply.text
    cookies = reply.cloudfront()
    env_verifier = Verifier({"KENVKEY0000001": rsa2048.public_key()})
    assert env_verifier.check_cookies("https://media.example.com/videos/a.mp4", cookies).allowed
    assert "domain=.example.com" in reply.attributes("CloudFront-Policy")
    assert "secure" in reply.attributes("CloudFront-Policy")


def test_cookie_secure_0_for_a_plain_http_demo(
    example: ModuleType, signer: Signer, monkeypatch: pytest.MonkeyPatch, verifier: Verifier
) -> None:
    monkeypatch.setenv("COOKIE_SECURE", "0")
    viewer = Browser(example.create_app(signer), base_url="http://localhost:8000")
    login = viewer.login("alice")
    assert "secure" not in login.attributes(login.set_cookies[0].split("=", 1)[0])
    reply = viewer.request("GET", "/videos")
    assert verifier.check_cookies(f"{MEDIA}/videos/a.mp4", reply.cloudfront()).allowed
    assert "secure" not in reply.attributes("CloudFront-Signature")


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ConfigurationError, match="COOKIE_SECURE"):
        load_settings({"COOKIE_SECURE": "yes"})
    with pytest.raises(ConfigurationError, match="PORT"):
        port({"PORT": "http"})
    settings = load_settings({"MEDIA_URL": "https://cdn.example.com/", "COOKIE_DOMAIN": ""})
    assert (settings.media_url, settings.cookie_domain, settings.secure) == (
        "https://cdn.example.com",
        None,
        True,
    )
    assert load_settings({}, secure=False).secure is False


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _listening(number: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", number), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(params=EXAMPLES)
def server(
    request: pytest.FixtureRequest, tmp_path: Path, rsa2048: rsa.RSAPrivateKey
) -> Iterator[int]:
    """``python -m examples.<name>`` on a free loopback port, as a demo would start it."""
    key = tmp_path / "private_key.pem"
    key.write_bytes(_pem(rsa2048))
    number = free_ports(1)[0]
    env = {
        **{k: v for k, v in os.environ.items() if k not in (*ENV_NAMES, *KEY_ENV_NAMES)},
        "CLOUDFRONT_KEY_PAIR_ID": KEY_ID,
        "CLOUDFRONT_PRIVATE_KEY_FILE": str(key),
        "COOKIE_SECURE": "0",
        "PORT": str(number),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"examples.{request.param}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not _listening(number):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"examples.{request.param} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield number
    finally:
        process.terminate()
        process.wait(timeout=10)


def _http(
    number: int, method: str, path: str, body: str = "", cookie: str = ""
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("localhost", number, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_runs_as_a_script(server: int, verifier: Verifier) -> None:
    """Log in and list the videos over real HTTP, as a browser would on a loopback demo."""
    login = _http(server, "POST", "/login", "user=alice")
    assert login.status == 303
    session = login.getheader("Set-Cookie", "").split(";", 1)[0]
    videos = _http(server, "GET", "/videos", cookie=session)
    assert videos.status == 200
    cookies = dict(
        header.split(";", 1)[0].split("=", 1)
        for header in videos.headers.get_all("Set-Cookie") or []
        if header.startswith("CloudFront-")
    )
    assert verifier.check_cookies(f"{MEDIA}/videos/intro.mp4", cookies).allowed
