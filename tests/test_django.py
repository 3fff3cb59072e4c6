"""The Django middleware, through Django's own machinery: its test clients (sync and async), its
WSGI handler under ``wsgiref.validate`` and its ASGI handler (the raw header bytes a server gets),
``runserver``, and the example project with the local edge standing in for CloudFront.

Django's settings are process-wide, and pytest-django is not used: a module fixture configures
them for this module only and puts them back to unconfigured afterwards; each test then layers
its own with ``override_settings``. ``django.setup()`` is never called (no installed apps are
needed), so the app registry of the process is left untouched too.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import logging
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from wsgiref.validate import validator

import httpx2
import pytest
from asgiref.sync import iscoroutinefunction
from conftest import (
    configured_django,
    free_ports,
    gated_first_visit,
    import_error_without,
    running_uvicorn,
)
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.test import AsyncClient, Client, override_settings
from django.urls import path, re_path
from django.utils.asyncio import async_unsafe
from django.views import View
from middleware_helpers import (
    APP_HOST,
    BAD_CONFIGS,
    CANNED_SET,
    CLOUDFRONT_NAMES,
    CUSTOM_SET,
    DOMAIN,
    KEY_ID,
    MEDIA,
    T0,
    VECTORS,
    BadConfig,
    Clock,
    GatedBackend,
    asgi_scope,
    assert_grants,
    cloudfront_set_cookies,
    cookie_header,
    header_values,
    make_signer,
    options,
    parse_set_cookie,
    policy_expiry,
    verifier_for,
    wsgi_environ,
)
from werkzeug.test import Client as WerkzeugClient

from cfcookie_middleware import Rule
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as AsgiMiddleware
from cfcookie_middleware.core import REMOTE_SIGNATURES
from cfcookie_middleware.demo.site import REFRESH_PATH
from cfcookie_middleware.edge import REASON_HEADER, Edge
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.signing import ConfigurationError, Signer
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WsgiMiddleware

ROOT = Path(__file__).resolve().parent.parent
MIDDLEWARE = "cfcookie_middleware.django.CloudFrontCookieMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
BASE_SETTINGS = {
    "SECRET_KEY": "test-secret",
    "DEBUG": False,
    "ALLOWED_HOSTS": [APP_HOST, "testserver"],
    "ROOT_URLCONF": __name__,
    "INSTALLED_APPS": [],
    "MIDDLEWARE": [SESSIONS, MIDDLEWARE],
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
}


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> Iterator[None]:
    with configured_django(**BASE_SETTINGS):
        yield


# ---- the app under the middleware --------------------------------------------------------------
def app_cookie(response: HttpResponse) -> HttpResponse:
    response.set_cookie("session", "abc123", httponly=True)
    return response


def video(request: HttpRequest, name: str) -> HttpResponse:
    response = app_cookie(HttpResponse(f"video {name}"))
    response["X-Custom"] = "kept as is"
    response["Cache-Control"] = "public, max-age=60, s-maxage=600"
    return response


def with_session(request: HttpRequest) -> HttpResponse:
    request.session["seen"] = True  # SessionMiddleware adds its cookie and "Vary: Cookie"
    return HttpResponse("session page")


def raw_header(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("raw")
    response["Set-Cookie"] = "legacy=1; Path=/"  # one header set directly, not via set_cookie
    return response


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"part one, ", b"part two"]))


async def async_streamed(request: HttpRequest) -> StreamingHttpResponse:
    async def parts() -> AsyncIterator[bytes]:  # under ASGI Django streams async iterators
        yield b"part one, "
        yield b"part two"

    return StreamingHttpResponse(parts())


async def async_video(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse(f"async video {name}")


def broken(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("a bug in the view")


def library(request: HttpRequest, user_id: str) -> HttpResponse:
    if user_id == "mallory":
        return HttpResponseForbidden("not yours")
    if user_id == "nobody":
        raise Http404("no such user")
    return HttpResponse(f"library of {user_id}")


class OwnLibrary(View):
    """A class-based view whose owner check is in ``get``: ``View.options`` answers OPTIONS
    (200, with an Allow header) without it, and ``View`` answers 405 to any other method."""

    def get(self, request: HttpRequest, user_id: str) -> HttpResponse:
        if request.COOKIES.get("user") != user_id:
            return HttpResponseForbidden("not yours")
        return HttpResponse(f"library of {user_id}")


urlpatterns = [
    path("owned/<str:user_id>/library", OwnLibrary.as_view()),
    path("videos/with-session", with_session),
    path("videos/streamed", streamed),
    path("videos/async-streamed", async_streamed),
    path("videos/raw-header", raw_header),
    path("videos/broken", broken),
    path("videos/async/<str:name>", async_video),
    re_path(r"^videos/(?P<name>.+)$", video),
    path("users/<str:user_id>/library", library),
    path("poster", lambda request: HttpResponse("poster")),
    path("plain", lambda request: HttpResponse("no rule here")),
    path("logout", lambda request: HttpResponseRedirect("/")),
]


# ---- reading responses -------------------------------------------------------------------------
def set_cookies(response: Any) -> list[str]:
    """The ``Set-Cookie`` values a response carries, written the way Django's WSGI and ASGI
    handlers write them: ``morsel.output(header="")`` per cookie, stripped as the ASGI one does."""
    return [morsel.output(header="").strip() for morsel in response.cookies.values()]


def client() -> Client:
    return Client(raise_request_exception=False, HTTP_HOST=APP_HOST)


def get(url: str, **extra: Any) -> Any:
    return client().get(url, secure=True, **extra)


def run_wsgi(
    handler: Any, path_info: str, **environ: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request through ``wsgiref.validate`` (which checks the handler and the headers it
    sends against PEP 3333): the status and header list given to ``start_response``, and the
    body. The environ is what a server would build for https://app.example.com."""
    env = wsgi_environ(path_info, **environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, list(headers)))
        return lambda data: None

    body = validator(handler)(env, start_response)
    try:
        data = b"".join(body)
    finally:
        body.close()  # type: ignore[attr-defined]
    [(status, headers)] = started
    return status, headers, data


def plain_wsgi_set_cookies(signer: Signer, clock: Clock, path_info: str) -> list[str]:
    """What the plain WSGI adapter (the same core, another transport) sends for this request
    at this time: the bytes the Django adapter must pass on unchanged."""

    def bare(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    middleware = WsgiMiddleware(bare, **options(signer, clock=clock))
    return header_values(run_wsgi(middleware, path_info)[1], "Set-Cookie")


# ---- the middleware ----------------------------------------------------------------------------
def test_appends_cookies_and_keeps_the_apps_own() -> None:
    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer)):
        response = get("/videos/a.mp4")
    assert response.status_code == 200
    assert response.content == b"video a.mp4"
    assert response["X-Custom"] == "kept as is"
    assert response["Cache-Control"] == "private, max-age=60"
    assert response["Vary"] == "Cookie"
    own = parse_set_cookie(response.cookies["session"].output(header="").strip())
    assert (own.value, "httponly" in own.attributes) == ("abc123", True)
    assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a")


def test_the_bytes_a_wsgi_server_gets_are_the_cores_unquoted() -> None:
    """Under Django's WSGI handler, each CloudFront ``Set-Cookie`` value is exactly what the
    plain WSGI adapter sends for the same request at the same time (the same core, another
    transport): no quoting, no reordered attributes, not even Django's leading space. The
    values hold ``~``, ``-`` and ``_``, which ``http.cookies`` would quote. The app's own cookie
    is left as Django renders it, which varies by Django and Python release."""
    signer, clock = make_signer(), Clock()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, clock=clock)):
        status, headers, body = run_wsgi(WSGIHandler(), "/videos/a.mp4")
    assert (status, body) == ("200 OK", b"video a.mp4")
    expected = plain_wsgi_set_cookies(signer, clock, "/videos/a.mp4")
    assert len(expected) == 3
    sent = header_values(headers, "Set-Cookie")
    assert [value for value in sent if value.startswith("CloudFront-")] == expected
    assert any("~" in value for value in expected)  # would be quoted by SimpleCookie
    with override_settings(MIDDLEWARE=[]):  # the same view, as Django alone renders it
        _, alone, _ = run_wsgi(WSGIHandler(), "/videos/a.mp4")
    djangos_own = header_values(alone, "Set-Cookie")
    assert len(djangos_own) == 1  # with a leading space or not, as the release renders it
    assert [value for value in sent if "session=" in value] == djangos_own
    assert_grants(expected, signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a", now=clock.now)


def test_wsgi_handler_with_sessions_streaming_raw_headers_and_a_canned_policy() -> None:
    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer)):
        handler = WSGIHandler()
        status, headers, body = run_wsgi(handler, "/videos/with-session")
        assert status == "200 OK"
        assert header_values(headers, "Vary") == ["Cookie"]  # ours and the session's, merged
        sent = header_values(headers, "Set-Cookie")
        assert any(value.lstrip().startswith("sessionid=") for value in sent)
        assert_grants(sent, signer, f"{MEDIA}/videos/x", None)

        status, headers, body = run_wsgi(handler, "/videos/streamed")
        assert (status, body) == ("200 OK", b"part one, part two")
        assert_grants(header_values(headers, "Set-Cookie"), signer, f"{MEDIA}/videos/x", None)

        _, headers, _ = run_wsgi(handler, "/videos/raw-header")
        sent = header_values(headers, "Set-Cookie")
        assert sent.count("legacy=1; Path=/") == 1
        assert_grants(sent, signer, f"{MEDIA}/videos/x", None)

        _, headers, _ = run_wsgi(handler, "/poster")
        assert_grants(
            header_values(headers, "Set-Cookie"),
            signer,
            f"{MEDIA}/poster.jpg",
            f"{MEDIA}/poster.png",
            expected_names=CANNED_SET,
        )


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/users/mallory/library", 403),  # the view's own 403
        ("/users/nobody/library", 404),  # Http404
        ("/videos/broken", 500),  # an exception, Django's 500 page
        ("/videos/", 404),  # a rule's path without a Django route
    ],
)
def test_error_responses_hand_out_nothing(url: str, status: int) -> None:
    with override_settings(CLOUDFRONT_COOKIES=options(make_signer())):
        response = get(url)
    assert response.status_code == status
    assert not cloudfront_set_cookies(set_cookies(response))
    assert "private" not in response.get("Cache-Control", "")


def test_when_gets_the_django_request_and_the_server_facts() -> None:
    seen: list[RequestView] = []

    def members_only(view: RequestView) -> bool:
        seen.append(view)
        return view.native.GET.get("member") == "yes"

    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, when=members_only)):
        refused = get("/videos/a.mp4?member=no")
        allowed = get(
            "/videos/b.mp4?member=yes",
            SCRIPT_NAME="/app",
            REMOTE_ADDR="203.0.113.9",
            HTTP_COOKIE="k=v",
        )
    assert not cloudfront_set_cookies(set_cookies(refused))
    assert_grants(set_cookies(allowed), signer, f"{MEDIA}/videos/b", None)
    view = seen[-1]
    assert isinstance(view.native, HttpRequest)
    assert view.native.path == "/app/videos/b.mp4"
    assert (view.method, view.scheme, view.host, view.path) == (
        "GET",
        "https",
        APP_HOST,
        "/videos/b.mp4",
    )
    assert (view.client_ip, dict(view.cookies), view.headers["Cookie"]) == (
        "203.0.113.9",
        {"k": "v"},
        "k=v",
    )


def test_a_host_django_would_refuse_does_not_break_the_middleware(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``request.get_host()`` raises for a Host outside ``ALLOWED_HOSTS``; a view that never
    asks still succeeds, and the middleware reads the Host header without raising (then warns
    that browsers would drop cookies for that host)."""
    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer)):
        response = client().get("/videos/a.mp4", secure=True, HTTP_HOST="evil.example.org")
    assert response.status_code == 200
    assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/a", None)
    assert "not inside cookie_domain" in caplog.text
    assert "without CloudFront cookies" not in caplog.text


@pytest.mark.parametrize(
    ("script_name", "force", "path_info", "granted"),
    [
        ("/app", None, "/videos/a.mp4", True),  # mounted below /app: rules see /videos/...
        ("", "/app", "/videos/a.mp4", True),  # FORCE_SCRIPT_NAME replaces the server's
        ("/videos", None, "/plain", False),  # /videos/plain in full, but not below the mount
        ("", "/videos", "/plain", False),
    ],
)
def test_rules_match_the_path_below_the_mount_point(
    script_name: str, force: str | None, path_info: str, granted: bool
) -> None:
    signer = make_signer()
    config = options(signer)
    with override_settings(CLOUDFRONT_COOKIES=config, FORCE_SCRIPT_NAME=force):
        status, headers, _ = run_wsgi(WSGIHandler(), path_info, SCRIPT_NAME=script_name)
        response = get(path_info, SCRIPT_NAME=script_name)
    assert status == "200 OK"
    assert response.status_code == 200
    for sent in (header_values(headers, "Set-Cookie"), set_cookies(response)):
        if granted:
            assert_grants(sent, signer, f"{MEDIA}/videos/a", None)
        else:
            assert not cloudfront_set_cookies(sent)


def test_clear_on_clears_every_cookie_path() -> None:
    rules = [
        Rule("/videos/*", resource=f"{MEDIA}/videos/*", cookie_path="/videos/"),
        Rule("/users/{user_id}/library", resource=f"{MEDIA}/users/{{user_id}}/*"),
    ]
    settings_ = options(make_signer(), rules=rules, clear_on="/logout", cookie_path="/users/")
    with override_settings(CLOUDFRONT_COOKIES=settings_):
        response = get("/logout")
    cleared = [parse_set_cookie(value) for value in set_cookies(response)]
    paths = {(cookie.name, cookie.attributes["path"]) for cookie in cleared}
    assert paths == {(name, path) for name in CLOUDFRONT_NAMES for path in ("/videos/", "/users/")}
    assert len(cleared) == 2 * len(CLOUDFRONT_NAMES)
    assert all(cookie.attributes["max-age"] == "0" for cookie in cleared)


def test_clear_on_a_logout_redirect() -> None:
    with override_settings(CLOUDFRONT_COOKIES=options(make_signer(), clear_on="/logout")):
        response = get("/logout")
    assert response.status_code == 302
    cleared = cloudfront_set_cookies(set_cookies(response))
    assert set(cleared) == set(CLOUDFRONT_NAMES)
    for cookie in cleared.values():
        assert (cookie.value, cookie.attributes["max-age"]) == ("", "0")
        assert (cookie.attributes["domain"], cookie.attributes["path"]) == (DOMAIN, "/")
    assert response["Cache-Control"] == "private"


def test_a_returning_visitor_gets_nothing_until_near_expiry() -> None:
    """Django's test client keeps the cookies in its jar and sends them back verbatim."""
    signer, clock = make_signer(), Clock()
    visitor = client()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, clock=clock)):
        first = visitor.get("/videos/a.mp4", secure=True)
        assert_grants(set_cookies(first), signer, f"{MEDIA}/videos/a", None, now=clock.now)
        clock.now = T0 + 6 * 60
        again = visitor.get("/videos/b.mp4", secure=True)
        assert not cloudfront_set_cookies(set_cookies(again))
        clock.now = T0 + 35 * 60
        refreshed = visitor.get("/videos/c.mp4", secure=True)
    values = assert_grants(set_cookies(refreshed), signer, f"{MEDIA}/videos/c", None, now=clock.now)
    assert policy_expiry(values) == T0 + 35 * 60 + 3600


def test_the_cookies_survive_copy_and_pickle() -> None:
    """Django's cache framework pickles responses; a copy must still send the exact bytes."""
    with override_settings(CLOUDFRONT_COOKIES=options(make_signer())):
        response = get("/videos/a.mp4")
    sent = set_cookies(response)
    assert cloudfront_set_cookies(sent)
    for cookies in (copy.deepcopy(response.cookies), pickle.loads(pickle.dumps(response.cookies))):
        assert [m.output(header="").strip() for m in cookies.values()] == sent
        assert [m.output() for m in cookies.values()] == [f"Set-Cookie: {v}" for v in sent]


# ---- async -------------------------------------------------------------------------------------
def test_async_chain_runs_when_in_djangos_sync_thread() -> None:
    """Under ASGI the middleware is a coroutine function, so Django does not hop to a thread
    for it; ``when`` (sync user code, such as the README's session check) runs in Django's
    sync thread all the same, where the ORM works: ``async_unsafe`` is the guard the ORM uses,
    and it raises SynchronousOnlyOperation on the event loop."""
    calls: list[str] = []

    def session_row() -> str:
        return "a session row"

    query_the_database: Callable[[], str] = async_unsafe(session_row)

    def reads_the_session(view: RequestView) -> bool:
        calls.append(query_the_database())
        return True

    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, when=reads_the_session)):
        from cfcookie_middleware.django import CloudFrontCookieMiddleware

        async def downstream(request: HttpRequest) -> HttpResponse:
            return HttpResponse()

        assert iscoroutinefunction(CloudFrontCookieMiddleware(downstream))
        assert not iscoroutinefunction(CloudFrontCookieMiddleware(lambda request: HttpResponse()))

        async def visit() -> list[Any]:
            return [
                await AsyncClient(raise_request_exception=False).get(url, secure=True)
                for url in ("/videos/async/a.mp4", "/videos/b.mp4", "/users/mallory/library")
            ]  # an async view, a sync one and a 403, each for a new visitor

        async_view, sync_view, forbidden = asyncio.run(visit())
    assert async_view.content == b"async video a.mp4"
    for response in (async_view, sync_view):
        assert response.status_code == 200
        assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/a", None)
    assert forbidden.status_code == 403
    assert not cloudfront_set_cookies(set_cookies(forbidden))
    assert calls == ["a session row"] * 2


def run_asgi(path: str, root_path: str = "") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One GET through Django's ``ASGIHandler`` as an ASGI server mounted at ``root_path``
    would send it: status, the raw header pairs of ``http.response.start``, and the body."""
    scope = asgi_scope(path, root_path=root_path)
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        finished = asyncio.Event()
        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if requests:
                return requests.pop()
            await finished.wait()  # the client stays until the response is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished.set()

        await ASGIHandler()(scope, receive, send)

    asyncio.run(run())
    start, *bodies = sent
    return start["status"], list(start["headers"]), b"".join(m.get("body", b"") for m in bodies)


@pytest.mark.parametrize(
    ("root_path", "path_info", "granted"),
    [("", "/videos/a.mp4", True), ("/app", "/videos/a.mp4", True), ("/videos", "/plain", False)],
)
def test_asgi_handler_sends_the_cores_bytes_below_root_path(
    root_path: str, path_info: str, granted: bool
) -> None:
    """As under WSGI: the raw ASGI header bytes are what the plain WSGI adapter sends, and
    rules see the path below the server's ``root_path`` (``uvicorn --root-path``)."""
    signer, clock = make_signer(), Clock()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, clock=clock)):
        status, headers, _ = run_asgi(root_path + path_info, root_path)
    assert status == 200
    sent = [value.decode("latin-1") for name, value in headers if name.lower() == b"set-cookie"]
    if not granted:
        assert not cloudfront_set_cookies(sent)
        return
    expected = plain_wsgi_set_cookies(signer, clock, path_info)
    assert [value for value in sent if value.startswith("CloudFront-")] == expected
    assert_grants(expected, signer, f"{MEDIA}/videos/a.mp4", None, now=clock.now)


def test_async_follows_django_on_force_script_name() -> None:
    """Whether Django strips FORCE_SCRIPT_NAME from an ASGI request's path depends on its
    version (4.2 does not and answers 404 here; 5.2 does and serves the video). The middleware
    reads ``path_info``, so it grants exactly when Django served the rule's view."""
    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer), FORCE_SCRIPT_NAME="/app"):
        response = asyncio.run(
            AsyncClient(raise_request_exception=False).get("/app/videos/a.mp4", secure=True)
        )
    assert (response.status_code, response.content) in ((200, b"video a.mp4"), (404, ANY))
    if response.status_code == 200:
        assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/a", None)
    else:
        assert not cloudfront_set_cookies(set_cookies(response))


def test_the_asgi_middleware_around_djangos_asgi_application() -> None:
    """``cfcookie_middleware.asgi`` needs nothing of Django: around ``get_asgi_application()``,
    served by uvicorn, Django's views (its session middleware, a streamed body, a refusal)
    answer as they would without it, and their successful responses carry the grant. Its
    ``when`` sees only the ASGI scope: no Django session or user is there."""
    signer = make_signer()
    seen: list[tuple[str, object, object]] = []

    def when(view: RequestView) -> bool:
        seen.append((view.native["path"], view.session, view.user))
        return True

    host = {"Host": APP_HOST}
    with override_settings(MIDDLEWARE=[SESSIONS]):  # sessions, but not the Django middleware
        app = AsgiMiddleware(get_asgi_application(), **options(signer, when=when))
        with running_uvicorn(app) as port:
            base = f"http://127.0.0.1:{port}"
            session, streamed_body, refused = (
                httpx2.get(f"{base}{path}", headers=host, timeout=10)
                for path in (
                    "/videos/with-session",
                    "/videos/async-streamed",
                    "/users/mallory/library",
                )
            )
    assert (session.status_code, session.text) == (200, "session page")
    assert (streamed_body.status_code, streamed_body.text) == (200, "part one, part two")
    for response in (session, streamed_body):
        assert_grants(response.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a", None)
        assert response.headers.get_list("vary") == ["Cookie"]
    assert any(value.startswith("sessionid=") for value in session.headers.get_list("set-cookie"))
    assert refused.status_code == 403
    assert not cloudfront_set_cookies(refused.headers.get_list("set-cookie"))
    assert seen == [("/videos/with-session", None, None), ("/videos/async-streamed", None, None)]


# ---- settings ----------------------------------------------------------------------------------
def build() -> Any:
    """Build the middleware as Django does at startup (``WSGIHandler`` loads ``MIDDLEWARE``)."""
    return WSGIHandler()


@pytest.mark.parametrize(
    "case", [case for case in BAD_CONFIGS if case.stage == "build"], ids=lambda case: case.id
)
def test_settings_errors_are_improperly_configured_with_the_cores_message(case: BadConfig) -> None:
    with (
        override_settings(CLOUDFRONT_COOKIES=case.make(make_signer())),
        pytest.raises(ImproperlyConfigured, match=case.match) as raised,
    ):
        build()
    assert isinstance(raised.value.__cause__, ConfigurationError)
    assert str(raised.value) == str(raised.value.__cause__)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, r"settings.CLOUDFRONT_COOKIES: not set; it must be a dict of options"),
        ([("rules", [])], r"settings.CLOUDFRONT_COOKIES: a list; it must be a dict"),
        (
            {"cookie_domian": DOMAIN},
            r"CLOUDFRONT_COOKIES\['cookie_domian'\]: not an option; did you mean "
            r"settings.CLOUDFRONT_COOKIES\['cookie_domain'\]",
        ),
        ({"RULES": []}, r"\['RULES'\]: not an option; did you mean .*\['rules'\]"),
        ({"xyzzy": 1}, r"\['xyzzy'\]: not an option; the options are .*\['signer'\], "),
    ],
)
def test_the_setting_itself_is_checked(value: Any, match: str) -> None:
    with (
        override_settings(CLOUDFRONT_COOKIES=value),
        pytest.raises(ImproperlyConfigured, match=match),
    ):
        build()


def test_signer_left_out_comes_from_django_storages_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An app that already signs URLs with django-storages keeps its key in AWS_CLOUDFRONT_KEY_ID
    and AWS_CLOUDFRONT_KEY (the PEM); those win over the environment's key."""
    config = options(make_signer())
    del config["signer"]
    monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", "KENVIRONMENT")
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY_FILE", str(VECTORS / "test-ecdsa-key.pem"))
    pem = (VECTORS / "test-rsa-key.pem").read_bytes()
    storages = {"AWS_CLOUDFRONT_KEY_ID": "K1TESTKEY", "AWS_CLOUDFRONT_KEY": pem}
    with override_settings(CLOUDFRONT_COOKIES=config, **storages):
        response = get("/videos/a.mp4")
    assert_grants(set_cookies(response), Signer("K1TESTKEY", pem), f"{MEDIA}/videos/a", None)
    assert "CloudFront-Key-Pair-Id=K1TESTKEY;" in " ".join(set_cookies(response))


@pytest.mark.parametrize(
    ("storages", "match"),
    [
        ({"AWS_CLOUDFRONT_KEY_ID": "K1TESTKEY"}, "settings.AWS_CLOUDFRONT_KEY: not set"),
        ({"AWS_CLOUDFRONT_KEY": "x"}, "settings.AWS_CLOUDFRONT_KEY_ID: not set"),
        (
            {"AWS_CLOUDFRONT_KEY_ID": "k1 lower", "AWS_CLOUDFRONT_KEY": "x"},
            "settings.AWS_CLOUDFRONT_KEY_ID: 'k1 lower' is not a CloudFront key ID",
        ),
        (
            {"AWS_CLOUDFRONT_KEY_ID": "K1TESTKEY", "AWS_CLOUDFRONT_KEY": "not a key"},
            "settings.AWS_CLOUDFRONT_KEY: ",
        ),
    ],
)
def test_django_storages_settings_are_checked_at_startup(
    storages: dict[str, str], match: str
) -> None:
    config = options(make_signer())
    del config["signer"]
    with (
        override_settings(CLOUDFRONT_COOKIES=config, **storages),
        pytest.raises(ImproperlyConfigured, match=re.escape(match)),
    ):
        build()


def test_a_missing_setting_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured, match="CLOUDFRONT_COOKIES: not set"):
        build()


def test_signer_left_out_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = options(make_signer())
    del config["signer"]
    for name in ("CLOUDFRONT_KEY_PAIR_ID", "CLOUDFRONT_PRIVATE_KEY", "CLOUDFRONT_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    with override_settings(CLOUDFRONT_COOKIES=config):
        with pytest.raises(ImproperlyConfigured, match="CLOUDFRONT_KEY_PAIR_ID: not set"):
            build()
        monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", KEY_ID)
        monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY_FILE", str(VECTORS / "test-rsa-key.pem"))
        response = get("/videos/a.mp4")
    assert_grants(set_cookies(response), Signer.from_env(), f"{MEDIA}/videos/a", None)


def test_importing_without_django_names_the_extra() -> None:
    message = import_error_without("cfcookie_middleware.django", "django")
    assert 'pip install "cfcookie-middleware[django]"' in message


# ---- the example project -----------------------------------------------------------------------
EXAMPLE_ENV = ("MEDIA_URL", "COOKIE_DOMAIN", "COOKIE_SECURE", "SECRET_KEY", "PORT")
KEY_ENV = (
    "CLOUDFRONT_KEY_PAIR_ID",
    "CLOUDFRONT_PRIVATE_KEY",
    "CLOUDFRONT_PRIVATE_KEY_FILE",
    "CLOUDFRONT_HASH_ALGORITHM",
    "CLOUDFRONT_PRIVATE_KEY_PASSPHRASE",
)
WWW = "www.mydomain.com"
MEDIA_HOST = "media.mydomain.com"
EXAMPLE_FILES = {
    "videos/intro.mp4": b"intro",
    "users/alice/holiday.mp4": b"alice's holiday",
    "users/bob/match.mp4": b"bob's match",
}


class MediaJar:
    """The cookies a browser would send to ``media.mydomain.com``: those whose Domain
    domain-matches it (RFC 6265 section 5.1.3). Host-only cookies set by ``www`` (the session)
    stay behind; ``Max-Age=0`` deletes (section 5.3)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def take(self, set_cookie_values: list[str]) -> None:
        for raw in set_cookie_values:
            cookie = parse_set_cookie(raw)
            domain = (cookie.attributes.get("domain") or "").lstrip(".").lower()
            if not domain or not (domain == MEDIA_HOST or MEDIA_HOST.endswith("." + domain)):
                continue
            if cookie.attributes.get("max-age") == "0":
                self.cookies.pop(cookie.name, None)
            else:
                self.cookies[cookie.name] = cookie.value


@pytest.fixture
def example_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Signer]:
    """``examples.django_app.settings`` as a deployment would load it: the key from the
    environment, everything else from the module's defaults (the shell's variables cleared)."""
    for name in (*EXAMPLE_ENV, *KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", KEY_ID)
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY_FILE", str(VECTORS / "test-rsa-key.pem"))
    module = importlib.reload(importlib.import_module("examples.django_app.settings"))
    names = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    # Overriding INSTALLED_APPS needs the app registry this module leaves alone; it is empty.
    assert names.pop("INSTALLED_APPS") == BASE_SETTINGS["INSTALLED_APPS"] == []
    with override_settings(**names):
        yield Signer.from_env()


@pytest.fixture
def edge(tmp_path: Path, example_settings: Signer) -> Callable[[str, MediaJar], Any]:
    """The local CloudFront stand-in for https://media.mydomain.com, serving the example's
    files and trusting the example's public key."""
    for name, data in EXAMPLE_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    app = Edge(tmp_path, {KEY_ID: example_settings.public_key}, public_url=f"https://{MEDIA_HOST}")
    browser = WerkzeugClient(app, use_cookies=False)  # the Cookie header is the MediaJar's

    def fetch(file: str, jar: MediaJar) -> Any:
        headers = {"Cookie": cookie_header(jar.cookies)} if jar.cookies else {}
        response = browser.get(f"/{file}", base_url=f"https://{MEDIA_HOST}", headers=headers)
        response.get_data()  # read, then close the file the edge opened
        response.close()
        return response

    return fetch


def test_example_refresh_route_answers_a_viewer_with_the_catalogues_grant(
    example_settings: Signer,
) -> None:
    www = Client(raise_request_exception=False, HTTP_HOST=WWW)
    assert www.get(REFRESH_PATH, secure=True).status_code == 401
    www.post("/login", {"user": "alice"}, secure=True)
    refreshed = www.get(REFRESH_PATH, secure=True)
    assert refreshed.status_code == 204
    issued = cloudfront_set_cookies(set_cookies(refreshed))
    assert {cookie.attributes["path"] for cookie in issued.values()} == {"/videos"}
    cookies = {name: cookie.value for name, cookie in issued.items()}
    verifier = verifier_for(example_settings)
    assert verifier.check_cookies(f"https://{MEDIA_HOST}/videos/intro/index.m3u8", cookies).allowed
    outside = f"https://{MEDIA_HOST}/users/alice/holiday.mp4"
    assert not verifier.check_cookies(outside, cookies).allowed


def test_example_the_route_check_finds_a_route_for_every_pattern(
    example_settings: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """Built for its first client, the middleware checks the example's rules and ``clear_on``
    against its URLconf and warns of nothing: they all name routes."""
    caplog.set_level(logging.DEBUG, logger="cfcookie_middleware.routes")
    Client(raise_request_exception=False, HTTP_HOST=WWW).get("/login", secure=True)
    given = importlib.import_module("examples.django_app.settings").CLOUDFRONT_COOKIES
    count = len(given["rules"]) + len(given["clear_on"])
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.endswith(".routes")]
    assert logged == [(logging.DEBUG, f"cfcookie: {count} patterns checked against the Django app")]


def test_example_www_page_hands_out_cookies_the_edge_accepts(
    edge: Callable[[str, MediaJar], Any],
) -> None:
    www = Client(raise_request_exception=False, HTTP_HOST=WWW)
    jar = MediaJar()

    def visit(method: str, url: str, **data: str) -> Any:
        response = getattr(www, method)(url, data or None, secure=True)
        jar.take(set_cookies(response))
        return response

    before = visit("get", "/videos")
    assert (before.status_code, before["Location"]) == (303, "/login")
    refused = edge("videos/intro.mp4", jar)
    assert (refused.status_code, b"<Code>MissingKey</Code>" in refused.data) == (403, True)
    assert refused.headers[REASON_HEADER]

    login = visit("post", "/login", user="alice")
    assert (login.status_code, login["Location"]) == (303, "/videos")
    assert not jar.cookies  # the session cookie is host-only: www only

    page = visit("get", "/videos")
    assert page.status_code == 200
    assert f'src="https://{MEDIA_HOST}/videos/intro.mp4"' in page.content.decode()
    issued = cloudfront_set_cookies(set_cookies(page))
    assert set(issued) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    for cookie in issued.values():
        assert cookie.attributes["domain"] == ".mydomain.com"
        assert "secure" in cookie.attributes
    served = edge("videos/intro.mp4", jar)
    assert (served.status_code, served.data) == (200, b"intro"), served.headers[REASON_HEADER]
    outside = edge("users/bob/match.mp4", jar)
    assert (outside.status_code, b"<Code>AccessDenied</Code>" in outside.data) == (403, True)

    assert visit("get", "/users/alice/library").status_code == 200
    assert edge("users/alice/holiday.mp4", jar).status_code == 200
    assert edge("users/bob/match.mp4", jar).status_code == 403
    forbidden = visit("get", "/users/bob/library")
    assert (forbidden.status_code, cloudfront_set_cookies(set_cookies(forbidden))) == (403, {})

    logout = visit("post", "/logout")
    assert (logout.status_code, logout["Location"]) == (303, "/login")
    assert not jar.cookies  # every CloudFront cookie cleared
    after = edge("users/alice/holiday.mp4", jar)
    assert (after.status_code, b"<Code>MissingKey</Code>" in after.data) == (403, True)


def test_example_refuses_an_unknown_user(edge: Callable[[str, MediaJar], Any]) -> None:
    www = Client(raise_request_exception=False, HTTP_HOST=WWW)
    assert www.post("/login", {"user": "mallory"}, secure=True).status_code == 401
    page = www.get("/videos", secure=True)
    assert (page.status_code, cloudfront_set_cookies(set_cookies(page))) == (303, {})


def _raw_http(number: int, request: str) -> bytes:
    """One request over a socket, the response's bytes as the server wrote them."""
    with socket.create_connection(("127.0.0.1", number), timeout=10) as connection:
        connection.sendall(request.encode("latin-1"))
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_example_runs_under_runserver(tmp_path: Path) -> None:
    """The command in the settings module's docstring, over real HTTP: the CloudFront
    ``Set-Cookie`` lines on the wire are verbatim and verify."""
    number = free_ports(1)[0]
    env = {
        **{k: v for k, v in os.environ.items() if k not in (*EXAMPLE_ENV, *KEY_ENV)},
        "DJANGO_SETTINGS_MODULE": "examples.django_app.settings",
        "CLOUDFRONT_KEY_PAIR_ID": KEY_ID,
        "CLOUDFRONT_PRIVATE_KEY_FILE": str(VECTORS / "test-rsa-key.pem"),
        "COOKIE_SECURE": "0",
    }
    log = tmp_path / "runserver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{number}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", number), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"runserver did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        body = "user=alice"
        login = _raw_http(
            number,
            f"POST /login HTTP/1.1\r\nHost: {WWW}\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}",
        )
        assert login.startswith(b"HTTP/1.1 303 "), login[:200]
        session = next(
            line.split(b":", 1)[1].strip().split(b";")[0]
            for line in login.split(b"\r\n")
            if line.lower().startswith(b"set-cookie:")
        )
        page = _raw_http(
            number,
            f"GET /videos HTTP/1.1\r\nHost: {WWW}\r\nConnection: close\r\n"
            f"Cookie: {session.decode()}\r\n\r\n",
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    head = page.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    assert head[0].startswith("HTTP/1.1 200 "), head
    lines = [line for line in head if line.startswith("Set-Cookie: CloudFront-")]
    assert len(lines) == 3, head
    values = [line.removeprefix("Set-Cookie: ") for line in lines]
    assert all(not value.startswith(" ") for value in values)
    cookies = cloudfront_set_cookies(values)
    assert all(c.attributes["domain"] == ".mydomain.com" for c in cookies.values())
    grants = {name: cookie.value for name, cookie in cookies.items()}
    decision = verifier_for(make_signer()).check_cookies(
        f"https://{MEDIA_HOST}/videos/intro.mp4", grants
    )
    assert decision.allowed, decision.reason


# ---- methods -----------------------------------------------------------------------------------
OWNED = [Rule("/owned/{user_id}/library", resource=f"{MEDIA}/users/{{user_id}}/*")]


@pytest.mark.parametrize(("method", "status"), [("options", 200), ("head", 403), ("post", 405)])
def test_a_class_based_views_options_earns_nothing(method: str, status: int) -> None:
    """An anonymous OPTIONS is answered by ``View.options`` (200) without the owner check in
    ``get``; HEAD runs ``get`` (403 here) and POST gets Django's 405: no cookies, under the
    sync and the async handler alike."""
    signer = make_signer()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, rules=OWNED)):
        sync = getattr(client(), method)("/owned/alice/library", secure=True)
        asynchronous = asyncio.run(
            getattr(AsyncClient(raise_request_exception=False), method)(
                "/owned/alice/library", secure=True
            )
        )
        owner = get("/owned/alice/library", HTTP_COOKIE="user=alice")
    for response in (sync, asynchronous):
        assert response.status_code == status
        assert not cloudfront_set_cookies(set_cookies(response))
    assert owner.status_code == 200
    assert_grants(set_cookies(owner), signer, f"{MEDIA}/users/alice/1.mp4", None)


def test_host_bound_rules_read_the_host_django_routes_on() -> None:
    """Host-bound rules read the host Django routes on (``request.get_host()``)."""
    signer = make_signer()
    rules = [Rule("/videos/*", resource=f"{MEDIA}/videos/*", host=APP_HOST)]
    forwarded = {"HTTP_X_FORWARDED_HOST": "status.example.com"}
    with override_settings(
        CLOUDFRONT_COOKIES=options(signer, rules=rules),
        USE_X_FORWARDED_HOST=True,
        ALLOWED_HOSTS=[APP_HOST, "status.example.com"],
    ):
        routed_elsewhere = get("/videos/a.mp4", **forwarded)
        plain = get("/videos/a.mp4")
    assert routed_elsewhere.status_code == 200
    assert not cloudfront_set_cookies(set_cookies(routed_elsewhere))
    assert_grants(set_cookies(plain), signer, f"{MEDIA}/videos/a.mp4", None)


# ---- a slow signer -----------------------------------------------------------------------------
def test_a_slow_signer_never_blocks_djangos_event_loop() -> None:
    """Django's ASGI handler under a real uvicorn server, with a KMS-like backend held at a
    gate: an unrelated request is answered while the signature waits (it could not be if the
    signature ran on the loop), then the waiting response goes out with its set."""
    backend = GatedBackend()
    signer = Signer(KEY_ID, backend)
    host = {"Host": APP_HOST}
    with override_settings(CLOUDFRONT_COOKIES=options(signer)):
        handler = ASGIHandler()  # builds the middleware, and its signing self-check, now
        visit = gated_first_visit(handler, backend, "/plain", host)
    assert (visit.unrelated.status_code, visit.unrelated.text) == (200, "no rule here")
    assert visit.waited  # still at the gate
    assert backend.on_a_loop == 0
    assert_grants(
        visit.granted.headers.get_list("set-cookie"),
        signer,
        f"{MEDIA}/videos/a.mp4",
        None,
        expected_names={*CUSTOM_SET, "CloudFront-Hash-Algorithm"},
    )


def test_slow_signatures_run_a_few_at_a_time_under_django() -> None:
    """Twelve first visitors of twelve libraries at once under Django's ASGI handler: at most
    REMOTE_SIGNATURES signatures wait at the gate together; all get their own set."""
    backend = GatedBackend()
    signer = Signer(KEY_ID, backend)
    users = [f"user{n}" for n in range(12)]
    host = {"Host": APP_HOST}
    with override_settings(CLOUDFRONT_COOKIES=options(signer)):
        handler = ASGIHandler()
        backend.armed = True
        with running_uvicorn(handler) as port, ThreadPoolExecutor(len(users)) as pool:
            base = f"http://127.0.0.1:{port}"
            replies = [
                pool.submit(httpx2.get, f"{base}/users/{user}/library", headers=host, timeout=30)
                for user in users
            ]
            backend.wait_for(REMOTE_SIGNATURES)
            for _ in range(50):  # the others are queued, not signing: no more reach the gate
                assert backend.in_flight == REMOTE_SIGNATURES
                time.sleep(0.01)
            backend.release.set()
            responses = [reply.result(30) for reply in replies]
    assert backend.peak == REMOTE_SIGNATURES
    for user, response in zip(users, responses, strict=True):
        values = {
            name: cookie.value
            for name, cookie in cloudfront_set_cookies(
                response.headers.get_list("set-cookie")
            ).items()
        }
        assert verifier_for(signer).check_cookies(f"{MEDIA}/users/{user}/1.mp4", values).allowed
