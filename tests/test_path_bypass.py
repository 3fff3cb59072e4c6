"""Path tricks cannot earn cookies for a route the app did not authorize, on any adapter.

Every app here routes the same table: the protected views ``videos`` (``/videos/`` and anything
below it) and ``library`` (``/users/<user_id>/library``), written in the framework's own route
syntax to cover exactly what the middleware's rules cover; a public catch-all route answering 200
for any path; and a not-found handler that also answers 200 (the single-page-app fallback), so
some view answers 200 to every request, whatever it routed to. Each view names itself in an
``X-View`` header. (The protected route covers what ``/videos/*`` covers on purpose: with a
one-segment ``/videos/{name}`` route, ``/videos/a/b`` would go to the catch-all and earn cookies
by configuration, not by any path trick; a rule must mirror the route it stands for.)

Each attack path goes through the framework the way a request would: its test client, raw
WSGI/ASGI with the exact path a server would decode (uvicorn percent-decodes ``path`` as UTF-8
with replacement characters; a PEP 3333 server such as gunicorn gives ``PATH_INFO`` as the latin-1
text of the decoded bytes), and a real server (uvicorn, Werkzeug's) over a socket. What the app
stack received is recorded outside the middleware (for Django, by a middleware of its own ahead
of this one: the path its request carries, which its router reads), and the outcome must satisfy:

* CloudFront cookies only when a protected view handled the request with a 2xx, and then the
  whole set (never the catch-all or the fallback);
* where the framework and the middleware could read the path differently (design.md: ``//``,
  ``.``/``..`` segments, backslashes, NUL, a path that is not UTF-8) no cookies, and a DEBUG line
  from the ``cfcookie_middleware`` logger says so (control characters such as a newline, which
  the routers' path converters stop at, count as such a disagreement);
* everywhere else the middleware agrees with the router: cookies exactly when a protected view
  answered 2xx (so a middleware that refused everything would fail too).

``CFCOOKIE_FUZZ_EXAMPLES`` (default 100) sets how many generated paths each adapter gets.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

import pytest
from conftest import running_uvicorn, serving
from django import conf, urls
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.utils.functional import empty
from fastapi import FastAPI
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from middleware_helpers import (
    APP_HOST,
    BASE_URL,
    CUSTOM_SET,
    MEDIA,
    asgi_scope,
    cloudfront_set_cookies,
    make_signer,
    wsgi_environ,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map
from werkzeug.routing import Rule as WerkzeugRule
from werkzeug.serving import make_server
from werkzeug.test import Client

from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as ASGIMiddleware
from cfcookie_middleware.cookies import MAX_COOKIE_BYTES
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import Signer
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WSGIMiddleware

EXAMPLES = int(os.environ.get("CFCOOKIE_FUZZ_EXAMPLES", "100"))
PROTECTED = frozenset({"videos", "library"})
ROOT_PATH = "/app"


def rules() -> list[Rule]:
    return [
        Rule("/videos/*", resource=f"{MEDIA}/videos/*"),
        Rule("/users/{user_id}/library", resource=f"{MEDIA}/users/{{user_id}}/*"),
    ]


def middleware_options(signer: Signer) -> dict[str, Any]:
    return {"signer": signer, "rules": rules(), "cookie_domain": ".example.com"}


# ---- the request as it travels ---------------------------------------------------------------
def wire(target: str) -> str:
    """The request target a client sends: printable ASCII as written (percent-escapes stay as
    they are), anything else percent-encoded as UTF-8, as browsers do."""
    return "".join(char if "!" <= char <= "~" else quote(char, safe="") for char in target)


def uvicorn_scope(target: str, root_path: str = "") -> Scope:
    """The scope uvicorn's h11 protocol builds: ``path`` is ``unquote`` of the raw path (UTF-8,
    replacement characters), prefixed with ``--root-path`` like ``raw_path``."""
    raw_path, _, query = wire(target).partition("?")
    return asgi_scope(
        root_path + unquote(raw_path),
        root_path=root_path,
        raw_path=(root_path + raw_path).encode("ascii"),
        query_string=query.encode("ascii"),
    )


def pep3333_environ(target: str) -> dict[str, Any]:
    """The environ a PEP 3333 server builds: ``PATH_INFO`` is the percent-decoded bytes read as
    latin-1 (gunicorn; invalid UTF-8 reaches the app as is)."""
    raw_path, _, query = wire(target).partition("?")
    return wsgi_environ(unquote_to_bytes(raw_path).decode("latin-1"), query=query)


def could_disagree(path: str) -> bool:
    """design.md's list of paths a framework, a proxy or a browser may read differently: an
    empty segment (``//``), a ``.`` or ``..`` segment, a backslash, a control character (NUL;
    a newline, at which the routers' path converters stop). Written from the list, segment by
    segment, independently of ``rules.is_ambiguous_path``."""
    segments = path.split("/")
    return (
        "" in segments[1:-1]
        or any(segment in (".", "..") for segment in segments)
        or "\\" in path
        or any(ord(char) < 0x20 or char == "\x7f" for char in path)
    )


# ---- one route table, four frameworks --------------------------------------------------------
def text(view: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    return view, status, {"X-View": view, "Content-Type": "text/plain"}


URL_MAP = Map(
    [
        WerkzeugRule("/videos/", endpoint="videos"),
        WerkzeugRule("/videos/<path:name>", endpoint="videos"),
        WerkzeugRule("/users/<user_id>/library", endpoint="library"),
        WerkzeugRule("/", endpoint="public"),
        WerkzeugRule("/<path:p>", endpoint="public"),
    ]
)


def routed_wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A plain WSGI app routing with Werkzeug's router, as Bottle or Pyramid route with theirs."""
    try:
        view, _ = URL_MAP.bind_to_environ(environ).match()
    except NotFound:
        view = "fallback"
    except HTTPException as exc:  # Werkzeug's slash redirects
        return exc(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-View", view)])
    return [view.encode()]


def flask_app(signer: Signer) -> Flask:
    app = Flask(__name__)

    @app.route("/videos/")
    @app.route("/videos/<path:name>")
    def videos(name: str = "") -> Any:
        return text("videos")

    @app.route("/users/<user_id>/library")
    def library(user_id: str) -> Any:
        return text("library")

    @app.route("/", defaults={"p": ""})
    @app.route("/<path:p>")
    def public(p: str) -> Any:
        return text("public")

    @app.errorhandler(404)
    def fallback(error: Exception) -> Any:
        return text("fallback")

    CloudFrontCookies(app, **middleware_options(signer))
    return app


def asgi_view(view: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(view, headers={"X-View": view})

    return endpoint


async def asgi_fallback(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("fallback", headers={"X-View": "fallback"})


def starlette_app(signer: Signer) -> Starlette:
    routes = [
        Route("/videos/{name:path}", asgi_view("videos")),
        Route("/users/{user_id}/library", asgi_view("library")),
        Route("/{p:path}", asgi_view("public")),
    ]
    app = Starlette(routes=routes, exception_handlers={404: asgi_fallback})
    app.add_middleware(ASGIMiddleware, **middleware_options(signer))
    return app


def fastapi_app(signer: Signer) -> FastAPI:
    app = FastAPI()
    app.add_api_route("/videos/{name:path}", asgi_view("videos"))
    app.add_api_route("/users/{user_id}/library", asgi_view("library"))
    app.add_api_route("/{p:path}", asgi_view("public"))
    app.add_exception_handler(StarletteHTTPException, asgi_fallback)
    app.add_middleware(ASGIMiddleware, **middleware_options(signer))
    return app


# ---- recording what reached the middleware, and what came back -------------------------------
@dataclass(frozen=True)
class Outcome:
    """One request's fate: ``seen`` is the decoded path that reached the middleware (``None``
    when it is not UTF-8), ``reached`` whether it reached the app stack at all."""

    status: int
    view: str | None
    set_cookies: list[str]
    reached: bool
    seen: str | None


class Seen:
    """The path each request carried into the stack, recorded outside the middleware."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def wsgi(self, app: Any) -> Any:
        def recording(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            self.paths.append(environ["PATH_INFO"])
            result: Iterable[bytes] = app(environ, start_response)
            return result

        return recording

    def asgi(self, app: ASGIApp) -> ASGIApp:
        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.paths.append(scope["path"])
            await app(scope, receive, send)

        return recording

    def outcome(
        self, status: int, headers: Iterable[tuple[str, str]], *, wsgi: bool, before: int
    ) -> Outcome:
        headers = list(headers)
        view = next((v for k, v in headers if k.lower() == "x-view"), None)
        cookies = [v for k, v in headers if k.lower() == "set-cookie"]
        if len(self.paths) == before:
            return Outcome(status, view, cookies, False, None)
        path = self.paths[-1]
        if wsgi:
            try:
                seen: str | None = path.encode("latin-1").decode("utf-8")
            except UnicodeError:
                seen = None
        else:
            seen = path
        return Outcome(status, view, cookies, True, seen)


Driver = Callable[[str], Outcome]


def raw_wsgi_driver(app: Any, inside: Seen | None = None) -> Driver:
    """PEP 3333 environs straight into ``app``, ``PATH_INFO`` recorded around it; or, given
    ``inside``, the recorder the app feeds from within (Django's, with the path it decoded)."""
    seen = inside or Seen()
    recorded = app if inside else seen.wsgi(app)

    def send(target: str) -> Outcome:
        before = len(seen.paths)
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started.append((status, headers))
            return lambda data: None

        body = recorded(pep3333_environ(target), start_response)
        try:
            b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        status, headers = started[-1]
        return seen.outcome(int(status[:3]), headers, wsgi=inside is None, before=before)

    return send


def not_sent(seen: Seen, before: int, error: Exception) -> Outcome:
    """A test client refusing a target sends nothing (httpx: a URL over 64 KB; Werkzeug: a
    '//name' read as a host that IDNA rejects; Django: one ``urlsplit`` rejects); an error after
    the app saw the request is real."""
    if len(seen.paths) > before:
        raise error
    return Outcome(0, None, [], False, None)


def wsgi_client_driver(seen: Seen, client: Client) -> Driver:
    """Werkzeug's test client (Flask's is one), which percent-decodes into ``PATH_INFO``."""

    def send(target: str) -> Outcome:
        before = len(seen.paths)
        try:
            response = client.get(wire(target), base_url=BASE_URL)
        except Exception as error:
            return not_sent(seen, before, error)
        items = response.headers.items()
        return seen.outcome(response.status_code, items, wsgi=True, before=before)

    return send


def raw_asgi_driver(app: ASGIApp, root_path: str = "") -> Driver:
    seen = Seen()
    recorded = seen.asgi(app)

    def send(target: str) -> Outcome:
        before = len(seen.paths)
        messages: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def record(message: Message) -> None:
            messages.append(message)

        async def serve() -> None:
            await recorded(uvicorn_scope(target, root_path), receive, record)

        asyncio.run(serve())
        start = messages[0]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
        return seen.outcome(start["status"], headers, wsgi=False, before=before)

    return send


def asgi_client_driver(app: ASGIApp) -> Driver:
    seen = Seen()
    client = TestClient(seen.asgi(app), base_url=BASE_URL)

    def send(target: str) -> Outcome:
        before = len(seen.paths)
        client.cookies.clear()  # each attack arrives without the cookies an earlier one earned
        try:
            response = client.get(wire(target))
        except Exception as error:
            return not_sent(seen, before, error)
        items = response.headers.multi_items()
        return seen.outcome(response.status_code, items, wsgi=False, before=before)

    return send


def socket_driver(port: int, seen: Seen, *, wsgi: bool) -> Driver:
    """Requests over a real socket, the target bytes exactly as written."""

    def send(target: str) -> Outcome:
        before = len(seen.paths)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.putrequest("GET", wire(target), skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", APP_HOST)
            connection.putheader("Connection", "close")
            connection.endheaders()
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):  # a server refusing an over-long line
            return Outcome(0, None, [], len(seen.paths) > before, None)
        finally:
            connection.close()
        return seen.outcome(response.status, response.getheaders(), wsgi=wsgi, before=before)

    return send


@pytest.fixture(scope="module")
def uvicorn_port() -> Iterator[tuple[int, Seen]]:
    seen = Seen()
    with running_uvicorn(seen.asgi(fastapi_app(make_signer()))) as port:
        yield port, seen


@pytest.fixture(scope="module")
def werkzeug_port() -> Iterator[tuple[int, Seen]]:
    seen = Seen()
    app = flask_app(make_signer())
    app.wsgi_app = seen.wsgi(app.wsgi_app)  # type: ignore[method-assign]
    with serving(make_server("127.0.0.1", 0, app)) as port:
        yield port, seen


def plain_wsgi_client(signer: Signer) -> Driver:
    seen = Seen()
    app = seen.wsgi(WSGIMiddleware(routed_wsgi_app, **middleware_options(signer)))
    return wsgi_client_driver(seen, Client(app, use_cookies=False))


def flask_client(signer: Signer) -> Driver:
    """Flask's own test client, the recorder outside the extension's wrapper."""
    seen = Seen()
    app = flask_app(signer)
    app.wsgi_app = seen.wsgi(app.wsgi_app)  # type: ignore[method-assign]
    return wsgi_client_driver(seen, app.test_client(use_cookies=False))


# ---- Django: the same table as URL patterns, its settings this module's only -----------------
DJANGO_SEEN = Seen()


def record_django_path(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """The outermost Django middleware: records ``request.path_info``, which Django's router
    and the middleware both read. Django decodes ``PATH_INFO`` itself, percent-encoding again
    any bytes that are not UTF-8: ``/videos/%ff`` reaches both as the well-formed
    ``/videos/%FF`` (where Werkzeug routes on U+FFFD), so that is what counts as seen."""

    def record(request: HttpRequest) -> Any:
        DJANGO_SEEN.paths.append(request.path_info)
        return get_response(request)

    return record


def django_view(view: str) -> Callable[..., HttpResponse]:
    def respond(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(view, content_type="text/plain", headers={"X-View": view})

    return respond


# ROOT_URLCONF is this module: Django reads ``urlpatterns`` and ``handler404`` from it. Its
# ``<path:>`` converter is ``.+`` (never empty, no newline), hence the ``videos/`` pattern, as
# Werkzeug's table has ``/videos/``; ``<str:>`` is ``[^/]+``, newlines included.
urlpatterns = [
    urls.path("videos/", django_view("videos")),
    urls.path("videos/<path:name>", django_view("videos")),
    urls.path("users/<str:user_id>/library", django_view("library")),
    urls.re_path(r"^(?P<rest>.*)$", django_view("public")),
]
handler404 = django_view("fallback")
DJANGO_SETTINGS = {
    "DEBUG": False,  # with DEBUG, Django answers a 404 with its own page, not handler404
    "ALLOWED_HOSTS": [APP_HOST],
    "ROOT_URLCONF": __name__,
    "INSTALLED_APPS": [],
    "MIDDLEWARE": [
        f"{__name__}.record_django_path",
        # APPEND_SLASH, as startproject sets it up: it redirects only a path that resolves to
        # no view when one with a '/' appended does, which the catch-all leaves to none here
        "django.middleware.common.CommonMiddleware",
        "cfcookie_middleware.django.CloudFrontCookieMiddleware",
    ],
}


@pytest.fixture(scope="module", autouse=True)
def configured_django() -> Iterator[None]:
    """Django's settings for this module only (as in test_django.py: no pytest-django, no
    ``django.setup()``), unconfigured again afterwards for the modules that run next. Read as
    ``conf.settings``: a module-level name bound to the lazy settings object would break
    hypothesis, which inspects this module's names after a failure, once they are reset."""
    assert not conf.settings.configured, "Django settings were configured before this module"
    conf.settings.configure(**DJANGO_SETTINGS)
    try:
        yield
    finally:
        conf.settings._wrapped = empty


def django_handler(signer: Signer) -> WSGIHandler:
    with override_settings(CLOUDFRONT_COOKIES=middleware_options(signer)):
        return WSGIHandler()  # builds the middleware chain, the core with it


def django_client(signer: Signer) -> Driver:
    """Django's test client, which splits the target with ``urlsplit``: a ``//name`` start is
    taken for a host and left out of the path (the recorder sees what was sent), and a target
    ``urlsplit`` rejects (``//[x``, an invalid IPv6 host) is never sent."""
    client = DjangoClient(HTTP_HOST=APP_HOST)
    with override_settings(CLOUDFRONT_COOKIES=middleware_options(signer)):
        client.handler.load_middleware()  # now, with this signer, not on the first request

    def send(target: str) -> Outcome:
        before = len(DJANGO_SEEN.paths)
        client.cookies.clear()  # each attack arrives without the cookies an earlier one earned
        try:
            response = client.get(wire(target), secure=True)
        except Exception as error:
            return not_sent(DJANGO_SEEN, before, error)
        # Set-Cookie values written as Django's WSGI handler writes them
        cookies = [("Set-Cookie", morsel.output(header="")) for morsel in response.cookies.values()]
        headers = [*response.items(), *cookies]
        return DJANGO_SEEN.outcome(response.status_code, headers, wsgi=False, before=before)

    return send


LOCAL_DRIVERS: dict[str, Callable[[Signer], Driver]] = {
    "wsgi-raw": lambda s: raw_wsgi_driver(WSGIMiddleware(routed_wsgi_app, **middleware_options(s))),
    "wsgi-werkzeug-client": plain_wsgi_client,
    "flask-raw": lambda s: raw_wsgi_driver(flask_app(s)),
    "flask-client": flask_client,
    "starlette-raw": lambda s: raw_asgi_driver(starlette_app(s)),
    "starlette-raw-root-path": lambda s: raw_asgi_driver(starlette_app(s), ROOT_PATH),
    "starlette-client": lambda s: asgi_client_driver(starlette_app(s)),
    "fastapi-raw": lambda s: raw_asgi_driver(fastapi_app(s)),
    "fastapi-client": lambda s: asgi_client_driver(fastapi_app(s)),
    "django-raw": lambda s: raw_wsgi_driver(django_handler(s), DJANGO_SEEN),
    "django-client": django_client,
}
SERVERS = ("uvicorn-fastapi", "werkzeug-server-flask")
DRIVERS = (*LOCAL_DRIVERS, *SERVERS)


@pytest.fixture(scope="module")
def drivers(request: pytest.FixtureRequest) -> dict[str, Driver]:
    """Every adapter's drivers, built once (a fresh signer each, so no cache is shared)."""
    built = {name: make(make_signer()) for name, make in LOCAL_DRIVERS.items()}
    port, seen = request.getfixturevalue("uvicorn_port")
    built["uvicorn-fastapi"] = socket_driver(port, seen, wsgi=False)
    port, seen = request.getfixturevalue("werkzeug_port")
    built["werkzeug-server-flask"] = socket_driver(port, seen, wsgi=True)
    return built


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "cfcookie_middleware"
        and record.levelno == logging.DEBUG
        and "no cookies" in record.getMessage()
    ]


def assert_consistent(outcome: Outcome, caplog: pytest.LogCaptureFixture) -> None:
    cookies = cloudfront_set_cookies(outcome.set_cookies)
    assert set(cookies) in (set(), CUSTOM_SET), f"a partial set: {sorted(cookies)}"
    protected = outcome.view in PROTECTED and 200 <= outcome.status < 300
    if cookies:
        assert protected, f"cookies on a response of the {outcome.view} view: {outcome}"
    if not outcome.reached:
        return
    if outcome.seen is None or not outcome.seen.startswith("/"):
        # Not UTF-8 (Werkzeug routes on U+FFFD) or no leading '/' (Werkzeug adds one): the
        # router may still take it for a video, the middleware matches nothing. (Refused
        # with a DEBUG line: see test_a_silent_refusal_is_logged.)
        assert not cookies
    elif could_disagree(outcome.seen):
        assert not cookies
        assert refusals(caplog), f"no DEBUG line says why {outcome.seen[:80]!r} got nothing"
    elif outcome.view == "library" and len(outcome.seen) > MAX_COOKIE_BYTES:
        # The library's resource is filled from the path; so long a one cannot fit in a
        # cookie: nothing, and a warning
        # (test_faults.py::test_a_long_captured_value_never_makes_half_a_set).
        assert not cookies
    else:
        assert bool(cookies) == protected, f"the middleware and the router disagree: {outcome}"


# ---- the attacks -----------------------------------------------------------------------------
LONG = 100_000
ATTACKS = {
    # baselines: the test can fail both ways
    "protected": "/videos/a.mp4",
    "protected-library": "/users/alice/library",
    "public": "/public/page",
    # dot segments, written and percent-encoded
    "dotdot": "/public/../videos/a.mp4",
    "dotdot-out": "/videos/../public/a",
    "dotdot-encoded": "/public/%2e%2e/videos/a.mp4",
    "dotdot-encoded-upper": "/public/%2E%2E/videos/a.mp4",
    "dotdot-half-encoded": "/public/.%2e/videos/a.mp4",
    "dot-encoded": "/videos/%2E",
    "dot-segment": "/./videos/a.mp4",
    "dot-inside": "/videos/./a.mp4",
    "dotdot-as-user": "/users/%2e%2e/library",
    "dotdot-trailing": "/videos/a/..",
    # slashes
    "double-leading": "//videos/a.mp4",
    "double-inside": "/videos//a.mp4",
    "double-public": "/public//videos/a.mp4",
    "encoded-slash": "/videos%2Fa.mp4",
    "encoded-slash-lower": "/videos%2fa.mp4",
    "encoded-slash-traversal": "/public%2F..%2Fvideos%2Fa.mp4",
    "encoded-double-slash": "/videos%2F%2Fa.mp4",
    "encoded-slash-in-user": "/users/a%2Fb/library",
    "double-encoded-slash": "/videos%252Fa.mp4",
    # ';' parameters (servlet containers strip them; Python frameworks do not)
    "param-in-prefix": "/videos;x/a.mp4",
    "param-then-dotdot": "/public;/../videos/a.mp4",
    "param-after": "/videos/a.mp4;jsessionid=1",
    "dotdot-param": "/videos/..;/public",
    "encoded-semicolon": "/videos%3Bx/a.mp4",
    # case
    "case-prefix": "/Videos/a.mp4",
    "case-upper": "/VIDEOS/a.mp4",
    "case-library": "/users/alice/Library",
    # trailing slashes
    "no-trailing": "/videos",
    "trailing": "/videos/",
    "trailing-file": "/videos/a.mp4/",
    "trailing-library": "/users/alice/library/",
    # Unicode look-alikes and NFKC-equivalent forms
    "fullwidth-solidus-segment": "/\uff0fvideos/a.mp4",
    "fullwidth-solidus-start": "\uff0fvideos/a.mp4",
    "fullwidth-solidus-inside": "/videos\uff0fa.mp4",
    "division-slash": "/videos\u2215a.mp4",
    "fullwidth-letters": "/\uff56\uff49\uff44\uff45\uff4f\uff53/a.mp4",
    "cyrillic-i": "/v\u0456deos/a.mp4",
    "fullwidth-dots": "/videos/\uff0e\uff0e/public",
    "one-dot-leader-pair": "/public/\u2025/videos/a.mp4",
    "fullwidth-reverse-solidus": "/videos\uff3c..\uff3cpublic",
    # NUL
    "nul-end": "/videos/a.mp4%00",
    "nul-prefix": "/videos%00/a.mp4",
    "nul-traversal": "/public%00/../videos/a.mp4",
    # backslashes
    "backslash": "/videos\\a.mp4",
    "backslash-traversal": "/public\\..\\videos\\a.mp4",
    "encoded-backslash-traversal": "/videos/a%5C..%5C..%5Cpublic",
    "encoded-backslash": "/public%5C..%5Cvideos/a.mp4",
    # not UTF-8 (overlong encodings of '/' and '.')
    "invalid-utf8": "/videos/%ff",
    "overlong-slash": "/videos%c0%afa.mp4",
    "overlong-dots": "/public/%c0%ae%c0%ae/videos/a.mp4",
    # other controls, which every router here reads like the middleware
    "tab": "/videos/a%09b",
    "carriage-return": "/videos/a%0Db",
    # queries
    "query-dotdot": "/videos/a.mp4?x=/../",
    "query-looks-protected": "/public?/videos/a.mp4",
    # very long
    "long-protected": "/videos/" + "a" * LONG,
    "long-traversal": "/public/" + "../" * (LONG // 3) + "videos/a.mp4",
    "long-user": "/users/" + "b" * LONG + "/library",
}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_attack(
    attack: str, driver: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    assert_consistent(drivers[driver](ATTACKS[attack]), caplog)


@pytest.mark.parametrize("driver", DRIVERS)
def test_baselines_earn_cookies(driver: str, drivers: dict[str, Driver]) -> None:
    """The premise: protected views are reached and earn a whole set, so 'no cookies' above is
    the middleware's decision, not a broken setup."""
    for target, view in (("/videos/a.mp4", "videos"), ("/users/alice/library", "library")):
        outcome = drivers[driver](target)
        assert (outcome.status, outcome.view) == (200, view)
        assert set(cloudfront_set_cookies(outcome.set_cookies)) == CUSTOM_SET


RAW = ("wsgi-raw", "flask-raw", "starlette-raw", "fastapi-raw", "uvicorn-fastapi", "django-raw")


@pytest.mark.parametrize("driver", [*RAW, "werkzeug-server-flask", "django-client"])
def test_the_catch_all_answers_a_traversal_and_earns_nothing(
    driver: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    """``/public/../videos/a.mp4`` reaches the app unresolved and the public catch-all answers
    it 200: matching the rule after resolving ``..`` would have handed out cookies here."""
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    outcome = drivers[driver]("/public/../videos/a.mp4")
    assert (outcome.status, outcome.view, outcome.seen) == (
        200,
        "public",
        "/public/../videos/a.mp4",
    )
    assert cloudfront_set_cookies(outcome.set_cookies) == {}
    assert refusals(caplog)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_newline_in_the_path_earns_nothing_from_the_fallback(
    driver: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    outcome = drivers[driver]("/videos/a%0Ab")
    assert outcome.view == "fallback"  # the router did not take it for a video
    assert cloudfront_set_cookies(outcome.set_cookies) == {}
    assert refusals(caplog)


SILENT = {
    "not-utf8": ("/videos/%ff", ("wsgi-raw", "flask-raw")),
    "no-leading-slash": ("videos/a.mp4", ("wsgi-raw", "flask-raw", "django-raw")),
}


@pytest.mark.parametrize(
    ("case", "driver"), [(case, driver) for case, (_, on) in SILENT.items() for driver in on]
)
def test_a_silent_refusal_is_logged(
    case: str, driver: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    outcome = drivers[driver](SILENT[case][0])
    assert outcome.reached
    assert cloudfront_set_cookies(outcome.set_cookies) == {}
    assert refusals(caplog)


@pytest.mark.parametrize("driver", ["wsgi-raw", "flask-raw"])
def test_werkzeug_routes_what_the_middleware_refuses_silently(
    driver: str, drivers: dict[str, Driver]
) -> None:
    """Why the two paths above count as disagreements: Werkzeug's router takes both for a video
    (the middleware refusing them is the safe side)."""
    for target, _ in SILENT.values():
        outcome = drivers[driver](target)
        assert (outcome.status, outcome.view) == (200, "videos")
        assert cloudfront_set_cookies(outcome.set_cookies) == {}


@pytest.mark.parametrize("driver", ["django-raw", "django-client"])
def test_django_reads_bytes_that_are_not_utf8_as_percent_escapes(
    driver: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    """Where Django differs from Werkzeug above: its request percent-encodes again the bytes
    of ``PATH_INFO`` that are not UTF-8 (``repercent_broken_unicode``), so the router and the
    middleware both read the same well-formed path. A video it routes as such earns the set
    like any video (its view answered 200); an overlong ``..`` stays a literal segment of the
    public catch-all's path and earns nothing."""
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    outcome = drivers[driver]("/videos/%ff")
    assert (outcome.status, outcome.view, outcome.seen) == (200, "videos", "/videos/%FF")
    assert set(cloudfront_set_cookies(outcome.set_cookies)) == CUSTOM_SET
    outcome = drivers[driver]("/public/%c0%ae%c0%ae/videos/a.mp4")
    assert (outcome.view, outcome.seen) == ("public", "/public/%C0%AE%C0%AE/videos/a.mp4")
    assert cloudfront_set_cookies(outcome.set_cookies) == {}
    assert not refusals(caplog)  # nothing ambiguous: the rule simply does not match


@pytest.mark.parametrize("driver", ["django-raw", "django-client"])
def test_django_routes_slashes_its_own_way_and_earns_nothing(
    driver: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    """Where Werkzeug's router sends ``/videos//a.mp4`` to the catch-all and redirects
    ``/videos`` to ``/videos/``, Django keeps the ``//`` in the ``<path:>`` value, so the videos
    view answers, and gives ``/videos`` to the catch-all (APPEND_SLASH only redirects a path no
    pattern resolves). No cookies for the first, which the middleware cannot be sure of, and
    none for the public one."""
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    outcome = drivers[driver]("/videos//a.mp4")
    assert (outcome.status, outcome.view) == (200, "videos")
    assert cloudfront_set_cookies(outcome.set_cookies) == {}
    assert refusals(caplog)
    outcome = drivers[driver]("/videos")
    assert (outcome.status, outcome.view) == (200, "public")
    assert cloudfront_set_cookies(outcome.set_cookies) == {}


# ---- generated paths ------------------------------------------------------------------------
TOKENS = (
    *("videos", "Videos", "public", "users", "alice", "library", "a.mp4", "", "~", "x"),
    *(".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2E."),
    *("%2F", "%2f", "%252F", "%5C", "\\", "%5c"),
    *(";", ";x", "%3B", "..;", "?", "?x=/../", "%3F"),
    *("%00", "\x00", "%ff", "%c0%af", "%c0%ae", "%e0%80%af"),
    *("\uff0f", "%EF%BC%8F", "\uff0e\uff0e", "\uff56\uff49\uff44\uff45\uff4f\uff53"),
    *("v\u0456deos", "\u2215", "\u2025", "\uff3c", "\u0130", "\u017f"),
    *(" ", "%20", "%09", "\t", "%0D", "%0A", "%25", "%", "%%32%65"),
)
token_paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["/", "//", "", "/videos/", "/users/", "/public/"]),
    st.lists(st.sampled_from(TOKENS), max_size=8),
)
char_paths = st.builds(
    lambda text: "/" + text,
    st.text(alphabet="/.%\\;?2eEfF05acdiosvVlbruy\x00\uff0f\u0456", max_size=40),
)


@pytest.mark.parametrize("driver", DRIVERS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.one_of(token_paths, char_paths, st.text(max_size=30).map("/".__add__)))
def test_generated_paths(
    driver: str, target: str, drivers: dict[str, Driver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware")
    assert_consistent(drivers[driver](target), caplog)
