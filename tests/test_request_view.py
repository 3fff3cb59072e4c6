"""``RequestView.session`` and ``RequestView.user`` keep a ``when`` framework-independent: each
``when`` below is written once and decides the same in Flask, Quart, Django and Starlette, each
with its own session (and authentication) middleware and test client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import flask
import flask_login
import pytest
import quart
from conftest import configured_django
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path
from middleware_helpers import APP_HOST, BASE_URL, MEDIA, assert_grants, make_signer, options
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client as WerkzeugClient

from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as AsgiMiddleware
from cfcookie_middleware.flask import CloudFrontCookies as FlaskCookies
from cfcookie_middleware.quart import CloudFrontCookies as QuartCookies
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.signing import Signer
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WsgiMiddleware

pytestmark = pytest.mark.filterwarnings("error")

When = Callable[[RequestView], object]
Visits = Callable[[Signer, When], tuple[list[str], list[str]]]
"""A framework's run: the ``Set-Cookie`` values an anonymous visitor of ``/videos/a.mp4`` gets,
then those a visitor who logged in as alice first gets."""


def logged_in(view: RequestView) -> bool:
    """Written once: the session, wherever the framework keeps it."""
    return view.session is not None and "user" in view.session


def authenticated(view: RequestView) -> bool:
    """Written once: the framework's user, anonymous until the login."""
    return bool(getattr(view.user, "is_authenticated", False))


# ---- Flask, with Flask-Login -------------------------------------------------------------------
class FlaskUser(flask_login.UserMixin):  # type: ignore[misc] # Flask-Login is untyped
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def flask_visits(signer: Signer, when: When) -> tuple[list[str], list[str]]:
    app = flask.Flask(__name__)
    app.secret_key = "test"
    flask_login.LoginManager(app).user_loader(FlaskUser)

    @app.post("/login")
    def login() -> tuple[str, int]:
        flask.session["user"] = flask.request.args["user"]
        flask_login.login_user(FlaskUser(flask.request.args["user"]))
        return "", 204

    @app.get("/videos/<path:name>")
    def video(name: str) -> str:
        return f"video {name}"

    FlaskCookies(app, **options(signer, when=when))
    anonymous = app.test_client().get("/videos/a.mp4", base_url=BASE_URL)
    client = app.test_client()
    client.post("/login?user=alice", base_url=BASE_URL)
    member = client.get("/videos/a.mp4", base_url=BASE_URL)
    return anonymous.headers.getlist("Set-Cookie"), member.headers.getlist("Set-Cookie")


# ---- Quart ---------------------------------------------------------------------------------------
def quart_visits(signer: Signer, when: When) -> tuple[list[str], list[str]]:
    app = quart.Quart(__name__)
    app.secret_key = "test"

    @app.post("/login")
    async def login() -> tuple[str, int]:
        quart.session["user"] = quart.request.args["user"]
        return "", 204

    @app.get("/videos/<path:name>")
    async def video(name: str) -> str:
        return f"video {name}"

    QuartCookies(app, **options(signer, when=when))
    site: dict[str, Any] = {"scheme": "https", "headers": {"Host": APP_HOST}}

    async def run() -> tuple[list[str], list[str]]:
        anonymous = await app.test_client().get("/videos/a.mp4", **site)
        client = app.test_client()
        await client.post("/login?user=alice", **site)
        member = await client.get("/videos/a.mp4", **site)
        return anonymous.headers.getlist("Set-Cookie"), member.headers.getlist("Set-Cookie")

    return asyncio.run(run())


# ---- Django, with its session and authentication middlewares -------------------------------------
SERVED: list[HttpRequest] = []
ALICE = "7"  # Django's default user model keys users by number


class DjangoUser:
    is_authenticated = True

    def __init__(self, user_id: int) -> None:
        self.pk = user_id


class DjangoBackend:
    """An authentication backend with no database: the user is the one the session names."""

    def get_user(self, user_id: int) -> DjangoUser:
        return DjangoUser(user_id)


def django_login(request: HttpRequest) -> HttpResponse:
    request.session["user"] = request.GET["user"]
    # What django.contrib.auth.login records, for a user this backend knows without a database.
    request.session[SESSION_KEY] = ALICE
    request.session[BACKEND_SESSION_KEY] = f"{__name__}.DjangoBackend"
    return HttpResponse(status=204)


def django_video(request: HttpRequest, name: str) -> HttpResponse:
    SERVED.append(request)
    return HttpResponse(f"video {name}")


urlpatterns = [path("login", django_login), path("videos/<path:name>", django_video)]


@pytest.fixture(scope="module")
def django_settings() -> Iterator[None]:
    with configured_django(
        SECRET_KEY="test-secret",
        ALLOWED_HOSTS=[APP_HOST],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        AUTHENTICATION_BACKENDS=[f"{__name__}.DjangoBackend"],
    ):
        yield


def django_visits(signer: Signer, when: When) -> tuple[list[str], list[str]]:
    def sent(response: Any) -> list[str]:
        return [morsel.output(header="").strip() for morsel in response.cookies.values()]

    with override_settings(
        # The authentication middleware needs the auth app (its models are never queried here).
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "cfcookie_middleware.django.CloudFrontCookieMiddleware",
        ],
        CLOUDFRONT_COOKIES=options(signer, when=when),
    ):
        anonymous = DjangoClient(HTTP_HOST=APP_HOST).get("/videos/a.mp4", secure=True)
        client = DjangoClient(HTTP_HOST=APP_HOST)
        client.post("/login?user=alice", secure=True)
        member = client.get("/videos/a.mp4", secure=True)
    return sent(anonymous), sent(member)


# ---- Starlette, with its session and authentication middlewares ----------------------------------
class SessionAuth(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.session.get("user")
        return None if name is None else (AuthCredentials(["authenticated"]), SimpleUser(name))


def starlette_visits(signer: Signer, when: When) -> tuple[list[str], list[str]]:
    async def login(request: Request) -> Response:
        request.session["user"] = request.query_params["user"]
        return Response(status_code=204)

    async def video(request: Request) -> Response:
        return PlainTextResponse(f"video {request.path_params['name']}")

    app = Starlette(
        routes=[Route("/login", login, methods=["POST"]), Route("/videos/{name:path}", video)],
        middleware=[
            Middleware(SessionMiddleware, secret_key="test"),
            Middleware(AuthenticationMiddleware, backend=SessionAuth()),
            Middleware(AsgiMiddleware, **options(signer, when=when)),
        ],
    )
    with TestClient(app, base_url=BASE_URL) as anonymous_client:
        anonymous = anonymous_client.get("/videos/a.mp4")
    with TestClient(app, base_url=BASE_URL) as client:
        client.post("/login?user=alice")
        member = client.get("/videos/a.mp4")
    return anonymous.headers.get_list("set-cookie"), member.headers.get_list("set-cookie")


# ---- one when, every framework -------------------------------------------------------------------
SESSIONS: dict[str, Visits] = {
    "flask": flask_visits,
    "quart": quart_visits,
    "django": django_visits,
    "starlette": starlette_visits,
}
USERS = {name: SESSIONS[name] for name in ("flask", "django", "starlette")}


@pytest.mark.usefixtures("django_settings")
@pytest.mark.parametrize(
    ("framework", "when"),
    [(name, logged_in) for name in SESSIONS] + [(name, authenticated) for name in USERS],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_one_when_decides_alike_in_every_framework(framework: str, when: When) -> None:
    signer = make_signer()
    anonymous, member = SESSIONS[framework](signer, when)
    assert not [value for value in anonymous if value.startswith("CloudFront-")]
    assert_grants(member, signer, f"{MEDIA}/videos/a.mp4", None)


@pytest.mark.usefixtures("django_settings")
def test_a_when_that_does_not_read_the_session_leaves_djangos_unloaded() -> None:
    """Django loads a session on first read; a ``when`` reading only the headers never makes
    it read (the view finds the session only when ``session`` is read)."""
    SERVED.clear()
    django_visits(make_signer(), lambda view: "Host" in view.headers)
    django_visits(make_signer(), logged_in)
    loaded = [hasattr(request.session, "_session_cache") for request in SERVED]
    assert loaded == [False, False, True, True]


def test_where_a_framework_has_no_such_place_both_are_none() -> None:
    """Plain WSGI has no session or user; a Flask app without Flask-Login has a session and no
    user (Quart's missing user is in test_quart.py, Django's ASGI scope in test_django.py)."""
    seen: list[tuple[object, object]] = []

    def when(view: RequestView) -> bool:
        seen.append((view.session, view.user))
        return True

    def bare(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"video"]

    signer = make_signer()
    WerkzeugClient(WsgiMiddleware(bare, **options(signer, when=when))).get(
        "/videos/a.mp4", base_url=BASE_URL
    )
    app = flask.Flask(__name__)
    app.secret_key = "test"
    app.get("/videos/<path:name>")(lambda name: "video")
    FlaskCookies(app, **options(signer, when=when))
    app.test_client().get("/videos/a.mp4", base_url=BASE_URL)
    assert seen == [(None, None), ({}, None)]
