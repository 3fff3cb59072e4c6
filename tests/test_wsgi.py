"""The plain WSGI adapter, at the protocol level: a hand-played server under
``wsgiref.validate.validator`` on both sides of the middleware (so every call it makes is checked
against PEP 3333, with warnings as errors), plus Werkzeug's test client and a mounted app."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
from middleware_helpers import (
    APP_HOST,
    BASE_URL,
    CANNED_SET,
    CLOUDFRONT_NAMES,
    CUSTOM_SET,
    DOMAIN,
    GARBAGE_KINDS,
    KEY_ID,
    MEDIA,
    T0,
    Clock,
    ClosingBody,
    assert_grants,
    cloudfront_set_cookies,
    cookie_header,
    garbage_cookie_headers,
    header_values,
    make_signer,
    options,
    policy_expiry,
    rotated_signer,
    wsgi_environ,
)
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import Signer
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

pytestmark = pytest.mark.filterwarnings("error")

Headers = list[tuple[str, str]]
APP_HEADERS: Headers = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Set-Cookie", "session=abc123; Path=/; HttpOnly"),
    ("X-Custom", "kept as is"),
    ("Set-Cookie", 'theme="dark"; Path=/'),
]
ROOT = Path(__file__).parent.parent


class App:
    """A WSGI app that answers ``status`` with ``headers`` and a body that records close()."""

    def __init__(self, status: str = "200 OK", headers: Headers | None = None) -> None:
        self.status = status
        self.headers = list(APP_HEADERS if headers is None else headers)
        self.bodies: list[ClosingBody] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> ClosingBody:
        start_response(self.status, list(self.headers))
        body = ClosingBody(b"hello ", b"world")
        self.bodies.append(body)
        return body


@dataclass
class Served:
    status: str
    headers: Headers
    body: bytes
    calls: list[tuple[str, Headers, Any]]

    @property
    def set_cookies(self) -> list[str]:
        return header_values(self.headers, "Set-Cookie")


def environ(
    path: str = "/videos/a.mp4", *, cookie: str | None = None, **extra: str
) -> dict[str, Any]:
    if cookie is not None:
        extra = {"HTTP_COOKIE": cookie, **extra}
    return wsgi_environ(path, **extra)


class RecordingServer:
    """The server's side of start_response: records each call and hands out its own write."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Headers, Any]] = []

    def write(self, data: bytes) -> None:
        """Legacy apps may write the body here; these tests never do."""

    def start_response(
        self, status: str, headers: Headers, exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.calls.append((status, headers, exc_info))
        return self.write


def serve(app: Callable[..., Iterable[bytes]], env: dict[str, Any]) -> Served:
    """Play a WSGI server: validator around what it calls, body read, then close() called."""
    server = RecordingServer()
    result = validator(app)(env, server.start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    status, headers, _ = server.calls[-1]
    return Served(status, headers, body, server.calls)


def wrap(app: Callable[..., Iterable[bytes]], signer: Signer, **overrides: Any) -> Any:
    """The middleware around a validated app: PEP 3333 is checked on both of its sides."""
    return CloudFrontCookieMiddleware(validator(app), **options(signer, **overrides))


# ---- what goes on the wire -------------------------------------------------------------------
def test_cookies_are_appended_and_the_apps_headers_kept_untouched() -> None:
    signer, app = make_signer(), App()
    served = serve(wrap(app, signer), environ("/videos/a.mp4"))
    plain = [h for h in served.headers if h[0].lower() not in ("cache-control", "vary")]
    # The app's own headers first, in order and byte for byte (its quoted cookie too) ...
    assert plain[: len(APP_HEADERS)] == APP_HEADERS
    # ... then one Set-Cookie per CloudFront cookie, and nothing else.
    added = plain[len(APP_HEADERS) :]
    assert {name for name, _ in added} == {"Set-Cookie"}
    assert_grants(
        [value for _, value in added], signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a.jpg"
    )
    assert header_values(served.headers, "Cache-Control") == ["private"]
    assert header_values(served.headers, "Vary") == ["Cookie"]
    assert served.status == "200 OK"
    assert served.body == b"hello world"
    assert app.bodies[0].closed, "the server's close() must reach the app's body"


def test_app_may_be_passed_by_keyword() -> None:
    """As Starlette's and Litestar's middleware lists pass it: ``cls(app=app, **options)``."""
    signer = make_signer()
    served = serve(
        CloudFrontCookieMiddleware(app=validator(App()), **options(signer)),
        environ("/videos/a.mp4"),
    )
    cookies = [value for name, value in served.headers if name == "Set-Cookie"]
    assert_grants(cookies[1:], signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a.jpg")


@pytest.mark.parametrize(
    ("scheme", "host", "secure", "warned"),
    [
        ("http", "app.example.com", True, True),  # the browser drops them
        ("https", "app.example.com", True, False),
        ("http", "localhost:8000", True, False),  # a secure context for browsers
        ("http", "127.0.0.1:8000", True, False),
        ("http", "app.example.com", False, False),  # a local http demo, said so
    ],
)
def test_secure_cookies_on_plain_http_are_warned_about_once(
    scheme: str, host: str, secure: bool, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The cookies still go out (the app may sit behind a TLS proxy it did not say about),
    but the log says why a browser would drop them, once, however many requests."""
    app = wrap(App(), make_signer(), secure=secure, cookie_domain=None)
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for _ in range(3):
            served = serve(app, environ(HTTP_HOST=host, **{"wsgi.url_scheme": scheme}))
            assert header_values(served.headers, "Cache-Control") == ["private"]
    found = [r.getMessage() for r in caplog.records if "plain-http request" in r.getMessage()]
    assert found == (
        [
            f"cfcookie: Secure cookies set on a plain-http request to {host}: browsers drop "
            "them, so CloudFront never sees them; serve the app over https (behind a proxy, "
            "let the framework see the https scheme), or pass secure=False for a local http demo"
        ]
        if warned
        else []
    )


def test_the_apps_iterable_is_returned_unchanged() -> None:
    """Identity, not a copy or a wrapper: streaming and the server's close() are the app's."""
    app = App()
    middleware = CloudFrontCookieMiddleware(app, **options(make_signer(), clear_on="/logout"))
    for path in ("/videos/a.mp4", "/logout", "/public/page", "/videos/\xff"):
        result = middleware(environ(path), RecordingServer().start_response)
        assert result is app.bodies[-1], path


def test_exact_url_resource_gets_canned_cookies() -> None:
    signer = make_signer()
    served = serve(wrap(App(), signer), environ("/poster"))
    values = assert_grants(
        served.set_cookies,
        signer,
        f"{MEDIA}/poster.jpg",
        f"{MEDIA}/poster.png",
        expected_names=CANNED_SET,
    )
    assert values["CloudFront-Expires"].isdigit()


@pytest.mark.parametrize(
    ("status", "issued"),
    [
        ("200 OK", True),
        ("201 Created", True),
        ("204 No Content", True),
        ("206 Partial Content", True),
        ("301 Moved Permanently", False),
        ("304 Not Modified", False),
        ("401 Unauthorized", False),
        ("403 Forbidden", False),
        ("404 Not Found", False),
        ("500 Internal Server Error", False),
        ("503 Service Unavailable", False),
    ],
)
def test_cookies_only_on_2xx(status: str, issued: bool) -> None:
    """The app decides who may see what: a route that refuses hands out nothing."""
    headers = [] if status[:3] in ("204", "304") else [("Content-Type", "text/plain")]
    served = serve(wrap(App(status, headers), make_signer()), environ("/videos/a.mp4"))
    assert bool(served.set_cookies) is issued
    assert (served.headers == headers) is not issued  # untouched when nothing is added


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/video/a.mp4",
        "/videos",  # '/videos/*' covers what is below /videos/, not /videos itself
        "/Videos/a.mp4",  # case-sensitive, as the framework routes
        "/users/alice/library/extra",
        "/public/../videos/a.mp4",  # never looser than the framework: no normalizing
        "/videos/./a.mp4",
        "//videos/a.mp4",
        "/videos/\xff",  # PATH_INFO that is not UTF-8 (latin-1 decoded byte 0xFF)
        "/users/caf\xe9/library",  # latin-1 'é' alone: invalid UTF-8
    ],
)
def test_no_cookies_outside_the_rules(path: str) -> None:
    served = serve(wrap(App(), make_signer()), environ(path))
    assert served.headers == APP_HEADERS


def test_path_info_is_decoded_the_wsgi_way() -> None:
    """Servers put the URL's UTF-8 bytes in PATH_INFO as latin-1 characters (PEP 3333); the
    user id 'café' arrives as 'caf\\xc3\\xa9' and is percent-encoded into the resource."""
    signer = make_signer()
    served = serve(wrap(App(), signer), environ("/users/caf\xc3\xa9/library"))
    assert_grants(
        served.set_cookies,
        signer,
        f"{MEDIA}/users/caf%C3%A9/song.mp3",
        f"{MEDIA}/users/cafe/song.mp3",
    )


def test_script_name_is_the_mount_point() -> None:
    """Rules match PATH_INFO, the path below SCRIPT_NAME; a mounted app is matched on its own
    paths, whatever prefix it is mounted under."""
    signer, app = make_signer(), App()
    middleware = wrap(app, signer)
    mounted = serve(middleware, environ("/videos/a.mp4", SCRIPT_NAME="/media-app"))
    assert_grants(mounted.set_cookies, signer, f"{MEDIA}/videos/a.mp4", None)
    # Mounted at /videos, the app's own path /a.mp4 is not '/videos/*'.
    assert serve(middleware, environ("/a.mp4", SCRIPT_NAME="/videos")).set_cookies == [
        value for name, value in APP_HEADERS if name == "Set-Cookie"
    ]
    # Werkzeug's dispatcher does the SCRIPT_NAME/PATH_INFO split the same way.
    site = DispatcherMiddleware(App("404 Not Found"), {"/app": middleware})
    client = Client(site)
    inside = client.get("/app/videos/a.mp4", base_url=BASE_URL, buffered=True)
    assert cloudfront_set_cookies(inside.headers.getlist("Set-Cookie"))
    outside = client.get("/videos/a.mp4", base_url=BASE_URL, buffered=True)
    assert outside.status_code == 404
    assert not cloudfront_set_cookies(outside.headers.getlist("Set-Cookie"))


def test_start_response_called_while_iterating() -> None:
    """A generator app calls start_response on the first next(): the wrapper still applies."""
    signer = make_signer()

    def lazy(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"streamed"

    served = serve(wrap(lazy, signer), environ("/videos/a.mp4"))
    assert served.body == b"streamed"
    assert_grants(served.set_cookies, signer, f"{MEDIA}/videos/a.mp4", None)


def test_exc_info_is_forwarded_and_the_error_response_gets_nothing() -> None:
    """PEP 3333: an app may call start_response again with exc_info before any body; the
    server must see the same exc_info, and the 500 it now sends carries no cookies."""
    raised: list[Any] = []

    def failing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise RuntimeError("template failed after the headers were prepared")
        except RuntimeError:
            raised.append(sys.exc_info())
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], raised[0])
        return [b"error page"]

    signer = make_signer()
    served = serve(wrap(failing, signer), environ("/videos/a.mp4"))
    (first_status, first_headers, first_exc), (status, headers, exc_info) = served.calls
    assert (first_status, first_exc) == ("200 OK", None)
    assert cloudfront_set_cookies(header_values(first_headers, "Set-Cookie"))
    assert status == "500 Internal Server Error"
    assert exc_info is raised[0]
    assert headers == [("Content-Type", "text/plain")]


def test_start_response_returns_the_servers_write() -> None:
    """Legacy apps write through the callable start_response returns: it is the server's."""
    seen: list[object] = []
    server = RecordingServer()

    def writer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(start_response("200 OK", [("Content-Type", "text/plain")]))
        return []

    middleware = CloudFrontCookieMiddleware(writer, **options(make_signer()))
    middleware(environ(), server.start_response)
    assert seen == [server.write]


# ---- cache headers -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("app_headers", "cache_control", "vary"),
    [
        ([], ["private"], ["Cookie"]),
        ([("Cache-Control", "max-age=60")], ["private, max-age=60"], ["Cookie"]),
        (
            [("Cache-Control", "public, max-age=60, s-maxage=600, must-revalidate")],
            ["private, max-age=60, must-revalidate"],
            ["Cookie"],
        ),
        ([("Cache-Control", "no-store")], ["no-store"], ["Cookie"]),
        ([("Cache-Control", "private, max-age=5")], ["private, max-age=5"], ["Cookie"]),
        ([("Vary", "Accept-Encoding")], ["private"], ["Accept-Encoding, Cookie"]),
        ([("Vary", "Accept-Encoding, Cookie")], ["private"], ["Accept-Encoding, Cookie"]),
        ([("vary", "*")], ["private"], ["*"]),
    ],
)
def test_responses_with_cookies_are_private(
    app_headers: Headers, cache_control: list[str], vary: list[str]
) -> None:
    """A shared cache must never store a response that hands out someone's signed cookies."""
    headers = [("Content-Type", "text/plain"), *app_headers]
    served = serve(wrap(App(headers=headers), make_signer()), environ())
    assert header_values(served.headers, "Cache-Control") == cache_control
    assert header_values(served.headers, "Vary") == vary


def test_a_field_qualified_private_gains_the_bare_directive() -> None:
    """RFC 9111 section 5.2.2.7: ``private="X-Debug"`` keeps only X-Debug out of shared caches;
    the rest of the response, the signed Set-Cookie headers included, would stay storable."""
    headers = [("Content-Type", "text/plain"), ("Cache-Control", 'private="X-Debug", max-age=60')]
    served = serve(wrap(App(headers=headers), make_signer()), environ())
    (value,) = header_values(served.headers, "Cache-Control")
    assert "private" in [directive.strip().lower() for directive in value.split(",")], value
    assert 'private="X-Debug"' in value  # the app's own directive is kept


# ---- options ---------------------------------------------------------------------------------
def test_when_decides_and_sees_the_request() -> None:
    seen: list[RequestView] = []

    def members_only(view: RequestView) -> bool:
        seen.append(view)
        return view.cookies.get("member") == "yes"

    signer = make_signer()
    middleware = wrap(App(), signer, when=members_only)
    assert not cloudfront_set_cookies(serve(middleware, environ(cookie="member=no")).set_cookies)
    env = environ("/users/alice/library", cookie="member=yes", HTTP_X_TRACE="t-1")
    served = serve(middleware, env)
    assert_grants(served.set_cookies, signer, f"{MEDIA}/users/alice/a.mp3", None)
    view = seen[-1]
    assert (view.method, view.scheme, view.host, view.path, view.client_ip) == (
        "GET",
        "https",
        APP_HOST,
        "/users/alice/library",
        "203.0.113.9",
    )
    assert view.params == {"user_id": "alice"}
    assert view.headers["x-trace"] == view.headers["X-Trace"] == "t-1"
    assert view.native is env


@pytest.mark.parametrize("status", ["200 OK", "302 Found", "204 No Content"])
def test_clear_on_expires_every_cloudfront_cookie(status: str) -> None:
    headers = [] if status.startswith("204") else [("Content-Type", "text/plain")]
    videos_only = {
        "rules": [Rule("/videos/*", resource=f"{MEDIA}/videos/*")],
        "cookie_path": "/videos/",
        "clear_on": ["/logout"],
    }
    issuing = wrap(App(), make_signer(), **videos_only)
    issued = cloudfront_set_cookies(serve(issuing, environ()).set_cookies)
    clearing = wrap(App(status, headers), make_signer(), **videos_only)
    cleared = cloudfront_set_cookies(serve(clearing, environ("/logout")).set_cookies)
    assert set(cleared) == set(CLOUDFRONT_NAMES)
    some_issued = next(iter(issued.values()))
    for cookie in cleared.values():
        assert cookie.value == ""
        assert cookie.attributes["max-age"] == "0"
        assert cookie.attributes["domain"] == some_issued.attributes["domain"] == DOMAIN
        assert cookie.attributes["path"] == some_issued.attributes["path"] == "/videos/"


@pytest.mark.parametrize("status", ["401 Unauthorized", "403 Forbidden", "500 Server Error"])
def test_clear_on_leaves_error_responses_alone(status: str) -> None:
    app = App(status, [("Content-Type", "text/plain")])
    served = serve(wrap(app, make_signer(), clear_on="/logout"), environ("/logout"))
    assert served.headers == [("Content-Type", "text/plain")]


def test_max_age_is_capped_at_what_is_left_of_the_policy() -> None:
    signer, clock = make_signer(), Clock()
    short = serve(wrap(App(), signer, max_age=timedelta(minutes=10), clock=clock), environ())
    assert {
        c.attributes["max-age"] for c in cloudfront_set_cookies(short.set_cookies).values()
    } == {"600"}
    full = serve(wrap(App(), signer, max_age=timedelta(hours=1), clock=clock), environ())
    cookies = cloudfront_set_cookies(full.set_cookies)
    # The policy ends at T0 + 3600 (window start + ttl); the clock is at T0 + 17.
    assert policy_expiry({n: c.value for n, c in cookies.items()}) == T0 + 3600
    assert {c.attributes["max-age"] for c in cookies.values()} == {str(3600 - 17)}


# ---- returning visitors ---------------------------------------------------------------------
def test_a_returning_visitor_is_refreshed_only_near_expiry() -> None:
    signer, clock = make_signer(), Clock()
    middleware = wrap(App(), signer, clock=clock)
    first = assert_grants(
        serve(middleware, environ()).set_cookies, signer, f"{MEDIA}/videos/a", None, now=clock.now
    )
    assert policy_expiry(first) == T0 + 3600

    clock.now = T0 + 6 * 60  # a later window, 54 min left: more than the default margin (30)
    again = serve(middleware, environ("/videos/b.mp4", cookie=cookie_header(first)))
    assert again.headers == APP_HEADERS  # nothing re-issued, not even the cache headers

    clock.now = T0 + 35 * 60  # 25 min left: inside the margin, a fresh set
    refreshed = serve(middleware, environ("/videos/b.mp4", cookie=cookie_header(first)))
    fresh = assert_grants(refreshed.set_cookies, signer, f"{MEDIA}/videos/b", None, now=clock.now)
    assert policy_expiry(fresh) == T0 + 35 * 60 + 3600  # T0 + 2100 is on the 300 s grid
    assert signer.calls == 2


def test_a_returning_visitor_is_passed_on_unwrapped() -> None:
    """A request already holding a current set can earn nothing whatever the response, so the
    app gets the server's own start_response; a first visit gets the middleware's."""
    signer, clock = make_signer(), Clock()
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(start_response)
        start_response("200 OK", list(APP_HEADERS))
        return [b"hello"]

    middleware = CloudFrontCookieMiddleware(app, **options(signer, clock=clock))
    first = RecordingServer()
    middleware(environ(), first.start_response)
    issued = cloudfront_set_cookies(header_values(first.calls[0][1], "Set-Cookie"))
    held = {name: cookie.value for name, cookie in issued.items()}
    again = RecordingServer()
    middleware(environ("/videos/b.mp4", cookie=cookie_header(held)), again.start_response)
    assert seen[0] != first.start_response
    assert seen[1] == again.start_response  # bound methods: equal, not identical
    assert again.calls == [("200 OK", APP_HEADERS, None)]


def test_refresh_margin_decides_when_to_re_issue() -> None:
    signer, clock = make_signer(), Clock()
    middleware = wrap(App(), signer, clock=clock, refresh_margin=timedelta(minutes=55))
    first = cloudfront_set_cookies(serve(middleware, environ()).set_cookies)
    clock.now = T0 + 6 * 60  # 54 min left, under the 55 min margin
    values = {name: cookie.value for name, cookie in first.items()}
    again = serve(middleware, environ(cookie=cookie_header(values)))
    assert policy_expiry(
        assert_grants(again.set_cookies, signer, f"{MEDIA}/videos/a", None, now=clock.now)
    ) == (T0 + 300 + 3600)


def test_a_returning_visitor_with_canned_cookies_gets_none() -> None:
    signer, clock = make_signer(), Clock()
    middleware = wrap(App(), signer, clock=clock)
    first = cloudfront_set_cookies(serve(middleware, environ("/poster")).set_cookies)
    assert set(first) == CANNED_SET
    clock.now = T0 + 10 * 60
    values = {name: cookie.value for name, cookie in first.items()}
    assert serve(middleware, environ("/poster", cookie=cookie_header(values))).headers == (
        APP_HEADERS
    )


def test_cookies_for_another_resource_are_replaced() -> None:
    signer = make_signer()
    middleware = wrap(App(), signer)
    alice = assert_grants(
        serve(middleware, environ("/users/alice/library")).set_cookies,
        signer,
        f"{MEDIA}/users/alice/a.mp3",
        f"{MEDIA}/users/bob/a.mp3",
    )
    served = serve(middleware, environ("/users/bob/library", cookie=cookie_header(alice)))
    assert_grants(
        served.set_cookies, signer, f"{MEDIA}/users/bob/a.mp3", f"{MEDIA}/users/alice/a.mp3"
    )


def test_key_rotation_re_issues_under_the_new_key() -> None:
    old, new = make_signer(), rotated_signer()
    held = assert_grants(
        serve(wrap(App(), old), environ()).set_cookies, old, f"{MEDIA}/videos/a", None
    )
    served = serve(wrap(App(), new), environ(cookie=cookie_header(held)))
    fresh = assert_grants(
        served.set_cookies,
        new,
        f"{MEDIA}/videos/a",
        f"{MEDIA}/images/a",
        expected_names=CUSTOM_SET | {"CloudFront-Hash-Algorithm"},
    )
    assert (fresh["CloudFront-Key-Pair-Id"], fresh["CloudFront-Hash-Algorithm"]) == (
        "K3ROTATEDKEY7Q",
        "SHA256",
    )


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_unusable_cloudfront_cookies_are_replaced(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    signer = make_signer()
    middleware = wrap(App(), signer)
    other = cloudfront_set_cookies(serve(middleware, environ("/users/alice/library")).set_cookies)
    header = garbage_cookie_headers({name: c.value for name, c in other.items()})[kind]
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        served = serve(middleware, environ("/users/alice/library", cookie=header))
    assert_grants(served.set_cookies, signer, f"{MEDIA}/users/alice/a.mp3", None)
    assert not caplog.records


def test_non_ascii_cookie_bytes_are_replaced(caplog: pytest.LogCaptureFixture) -> None:
    """WSGI hands header bytes over as latin-1 characters; none of them may break anything."""
    signer = make_signer()
    header = f"CloudFront-Policy=caf\xe9\xff; CloudFront-Key-Pair-Id={KEY_ID}; CloudFront-\xe9=1"
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        served = serve(wrap(App(), signer), environ(cookie=header))
    assert_grants(served.set_cookies, signer, f"{MEDIA}/videos/a", None)
    assert not caplog.records


def test_a_superscript_digit_expiry_is_replaced(caplog: pytest.LogCaptureFixture) -> None:
    """Byte 0xB2 reads as '²' in latin-1, which ``str.isdigit`` accepts and ``int`` refuses."""
    signer = make_signer()
    header = f"CloudFront-Expires=\xb2; CloudFront-Signature=x; CloudFront-Key-Pair-Id={KEY_ID}"
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        served = serve(wrap(App(), signer), environ("/poster", cookie=header))
    assert not caplog.records
    assert_grants(
        served.set_cookies, signer, f"{MEDIA}/poster.jpg", None, expected_names=CANNED_SET
    )


# ---- per-user resources ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "inside", "outside"),
    [
        ("/users/alice/library", "users/alice/x.mp3", "users/bob/x.mp3"),
        # A captured '*' or '?' is percent-encoded: it can never widen the policy.
        ("/users/*/library", "users/%2A/x.mp3", "users/alice/x.mp3"),
        ("/users/a?c/library", "users/a%3Fc/x.mp3", "users/abc/x.mp3"),
        ("/users/%2A/library", "users/%252A/x.mp3", "users/%2A/x.mp3"),
    ],
)
def test_each_user_gets_a_policy_for_their_own_prefix(path: str, inside: str, outside: str) -> None:
    signer = make_signer()
    served = serve(wrap(App(), signer), environ(path))
    assert_grants(served.set_cookies, signer, f"{MEDIA}/{inside}", f"{MEDIA}/{outside}")


def test_a_callable_resource_outside_the_cookie_domain_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A callable's host is unknown at build, so it is checked per request: the browser would
    never send cookies for .example.com to media.example.org."""
    rules = [Rule("/videos/*", resource=lambda view: "https://media.example.org/videos/*")]
    middleware = wrap(App(), make_signer(), rules=rules)
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for _ in range(3):
            serve(middleware, environ())
    (warning,) = caplog.records
    assert "media.example.org" in warning.getMessage()


# ---- the host warning, concurrency, a framework test client, imports --------------------------
def test_a_host_outside_the_cookie_domain_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    signer = make_signer()
    middleware = wrap(App(), signer)
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for _ in range(10):
            env = environ(HTTP_HOST="app.example.org", SERVER_NAME="app.example.org")
            assert cloudfront_set_cookies(serve(middleware, env).set_cookies)
    warnings = [r for r in caplog.records if "not inside cookie_domain" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "app.example.org" in warnings[0].getMessage()


def test_a_malformed_host_header_is_not_an_error_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Host header is the client's to write: a broken one must not put a traceback in the
    error log on every request."""
    middleware = wrap(App(), make_signer())
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for _ in range(3):
            serve(middleware, environ(HTTP_HOST="[app.example.com"))
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_an_environ_without_host_or_scheme_is_not_an_error() -> None:
    """A loose harness (no Host, no wsgi.url_scheme) gets its response, without cookies' host
    check crashing it: the middleware is called directly, as such a harness would."""
    env = environ()
    del env["HTTP_HOST"], env["wsgi.url_scheme"]
    server = RecordingServer()
    middleware = CloudFrontCookieMiddleware(App(), **options(make_signer()))
    body = b"".join(middleware(env, server.start_response))
    assert server.calls[-1][0] == "200 OK"
    assert body


def test_many_threads_get_valid_cookies_from_few_signatures() -> None:
    """32 threads x 20 requests against one middleware: every response carries a set that
    verifies, and signatures are reused (an RSA signature per request would be 640)."""
    signer, clock = make_signer(), Clock()
    middleware = wrap(App(), signer, clock=clock)
    paths = ["/videos/a.mp4", "/users/alice/library", "/users/bob/library", "/poster"]

    def one(i: int) -> tuple[str, list[str]]:
        path = paths[i % len(paths)]
        return path, serve(middleware, environ(path)).set_cookies

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(32 * 20)))
    inside = {
        "/videos/a.mp4": f"{MEDIA}/videos/a.mp4",
        "/users/alice/library": f"{MEDIA}/users/alice/a.mp3",
        "/users/bob/library": f"{MEDIA}/users/bob/a.mp3",
        "/poster": f"{MEDIA}/poster.jpg",
    }
    for path, set_cookies in results:
        names = CANNED_SET if path == "/poster" else None
        assert_grants(set_cookies, signer, inside[path], None, expected_names=names, now=clock.now)
    # Four resources in one window: one signature each, or at worst one per resource and
    # thread when the first requests race past the cache together (it does not hold a lock
    # while signing); one per request would be 640.
    assert signer.calls <= 4 * 32, signer.calls


def test_werkzeug_test_client_and_its_cookie_jar() -> None:
    """Through Werkzeug's client, whose jar sends the cookies back as a browser would.

    The jar matches a Domain only when written without the legacy leading dot (browsers
    ignore the dot, RFC 6265 section 5.2.3), hence ``example.com`` here.
    """
    signer = make_signer()
    client = Client(wrap(App(), signer, cookie_domain="example.com"))
    first = client.get("/videos/a.mp4", base_url=BASE_URL, buffered=True)
    assert_grants(
        first.headers.getlist("Set-Cookie"),
        signer,
        f"{MEDIA}/videos/a.mp4",
        None,
        domain="example.com",
    )
    again = client.get("/videos/b.mp4", base_url=BASE_URL, buffered=True)
    assert again.headers.getlist("Set-Cookie") == [v for n, v in APP_HEADERS if n == "Set-Cookie"]


def test_the_wsgi_adapter_needs_no_web_framework() -> None:
    code = (
        "import sys\n"
        "sys.modules['flask'] = sys.modules['starlette'] = sys.modules['fastapi'] = None\n"
        "import cfcookie_middleware, cfcookie_middleware.wsgi\n"
        "print(cfcookie_middleware.wsgi.CloudFrontCookieMiddleware.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "CloudFrontCookieMiddleware"), done.stderr


# ---- methods and hosts -----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
def test_only_a_get_earns_cookies_by_default(method: str) -> None:
    """The app answers 200 to anything; a method outside ``methods`` earns nothing."""
    signer = make_signer()
    answer = serve(wrap(App(), signer), environ(REQUEST_METHOD=method))
    assert answer.status == "200 OK"
    assert not cloudfront_set_cookies(answer.set_cookies)
    assert cloudfront_set_cookies(serve(wrap(App(), signer), environ()).set_cookies)


def test_methods_widens_the_set_and_clear_on_answers_a_post() -> None:
    signer = make_signer()
    app = wrap(App(), signer, methods=("GET", "HEAD"), clear_on="/logout")
    head = serve(app, environ(REQUEST_METHOD="HEAD")).set_cookies
    assert_grants(head, signer, f"{MEDIA}/videos/a.mp4", None)
    assert not cloudfront_set_cookies(serve(app, environ(REQUEST_METHOD="POST")).set_cookies)
    logout = serve(app, environ("/logout", REQUEST_METHOD="POST")).set_cookies
    assert set(cloudfront_set_cookies(logout)) == set(CLOUDFRONT_NAMES)
    preflight = serve(app, environ("/logout", REQUEST_METHOD="OPTIONS")).set_cookies
    assert not cloudfront_set_cookies(preflight)


def test_a_rule_bound_to_a_host_compares_the_host_header_exactly() -> None:
    signer = make_signer()
    rules = [Rule("/videos/*", resource=f"{MEDIA}/videos/*", host="www.example.com")]
    app = wrap(App(), signer, rules=rules)
    for host in ("www.example.com:8443", "WWW.example.com", "status.example.com", APP_HOST):
        assert not cloudfront_set_cookies(serve(app, environ(HTTP_HOST=host)).set_cookies), host
    granted = serve(app, environ(HTTP_HOST="www.example.com")).set_cookies
    assert_grants(granted, signer, f"{MEDIA}/videos/a.mp4", None)
