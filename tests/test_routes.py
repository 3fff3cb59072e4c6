"""Rules checked against the app's routes, through each framework's own router and test client.

A rule that no route reaches gets one warning on the ``cfcookie_middleware.routes`` logger,
naming the closest route as the framework spells it, prefixes included (Flask's blueprint
``url_prefix``, Starlette's ``Mount``, FastAPI's router prefixes, Django's ``include``), and the
rule to write instead. Each suggested rule is then shown to log nothing and, where the test
client makes it easy to read, to earn cookies the Verifier accepts on that route.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
import quart
from conftest import configured_django
from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import clear_url_caches, include, path, re_path
from fastapi import APIRouter, FastAPI
from middleware_helpers import (
    APP_HOST,
    BASE_URL,
    CLOUDFRONT_NAMES,
    MEDIA,
    assert_grants,
    cloudfront_set_cookies,
    make_signer,
    options,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Match, Mount, Route, Router
from starlette.testclient import TestClient
from starlette.types import Scope
from werkzeug.test import Client as WerkzeugClient

from cfcookie_middleware import Rule
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as AsgiMiddleware
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.quart import CloudFrontCookies as QuartCookies
from cfcookie_middleware.signing import Signer
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WsgiMiddleware

CHECK_LOGGER = "cfcookie_middleware.routes"
INSIDE, OUTSIDE = f"{MEDIA}/videos/intro.mp4", f"{MEDIA}/private/a.mp4"
Warned = Callable[[], list[str]]


def rule(pattern: str, **kwargs: Any) -> Rule:
    return Rule(pattern, resource=f"{MEDIA}/videos/*", **kwargs)


@pytest.fixture
def warned(caplog: pytest.LogCaptureFixture) -> Warned:
    """The check's warnings so far."""
    caplog.set_level(logging.WARNING, logger="cfcookie_middleware")
    return lambda: [
        record.getMessage()
        for record in caplog.records
        if record.name == CHECK_LOGGER and record.levelno == logging.WARNING
    ]


def suggested(message: str) -> str:
    """The rule pattern a warning says to write."""
    found = re.search(r"write Rule\('([^']*)'\)", message)
    assert found is not None, message
    return found.group(1)


def assert_one_warning(messages: list[str], *expected: str) -> str:
    assert len(messages) == 1, messages
    for text in expected:
        assert text in messages[0], messages[0]
    return messages[0]


# ---- Flask: a blueprint's url_prefix ---------------------------------------------------------
def ok(**captured: object) -> str:
    return "ok"


def flask_app(signer: Signer, *rules: Rule, **overrides: Any) -> flask.Flask:
    """The extension first, then the blueprints, as an app factory does."""
    app = flask.Flask(__name__, static_folder=None)
    CloudFrontCookies(app, **options(signer, rules=list(rules), **overrides))
    api = flask.Blueprint("api", __name__, url_prefix="/api")
    api.add_url_rule("/videos/<int:video_id>", view_func=ok)
    api.add_url_rule("/files/<path:name>", view_func=ok)
    api.add_url_rule("/items/<uuid:item>/<float:version>", view_func=ok)
    api.add_url_rule("/logout", view_func=ok, methods=["POST"])
    app.register_blueprint(api)
    app.add_url_rule("/videos", view_func=ok)
    app.add_url_rule("/library/", view_func=ok)
    return app


def flask_get(app: flask.Flask, url: str) -> Any:
    return app.test_client().get(url, base_url=BASE_URL)


@pytest.mark.parametrize(
    ("typo", "closest", "fix", "hint", "url"),
    [
        (
            "/videos/{video_id}",
            "'/api/videos/<int:video_id>'",
            "/api/videos/{video_id}",
            "the prefix '/api' is missing",
            "/api/videos/7",
        ),
        ("/video", "'/videos'", "/videos", "", "/videos"),
        ("/videos/", "'/videos'", "/videos", "only the trailing slash differs", "/videos"),
        # Werkzeug redirects /library to /library/: the redirect is no view.
        ("/library", "'/library/'", "/library/", "only the trailing slash differs", "/library/"),
        ("/api/file/*", "'/api/files/<path:name>'", "/api/files/*", "", "/api/files/a/b.txt"),
    ],
)
def test_flask_a_typo_warns_once_with_the_closest_route_and_the_fix_grants(
    warned: Warned, typo: str, closest: str, fix: str, hint: str, url: str
) -> None:
    app = flask_app(make_signer(), rule(typo))
    assert flask_get(app, "/videos").status_code == 200
    assert flask_get(app, "/videos").status_code == 200
    message = assert_one_warning(
        warned(), f"Rule({typo!r}) matches no route of the Flask app", closest, hint
    )
    assert suggested(message) == fix

    signer = make_signer()
    fixed = flask_app(signer, rule(fix))
    response = flask_get(fixed, url)
    assert response.status_code == 200
    assert_grants(response.headers.getlist("Set-Cookie"), signer, INSIDE, OUTSIDE)
    assert len(warned()) == 1  # the fixed app logged nothing


def test_flask_rules_that_match_routes_log_nothing(warned: Warned) -> None:
    rules = [
        rule("/api/videos/{video_id}"),
        rule("/api/files/*"),
        rule("/api/items/{item}/{version}"),  # a UUID and a float converter
        rule("/videos"),
        rule("/library/"),
    ]
    app = flask_app(make_signer(), *rules, clear_on=["/api/logout"])  # a POST-only route
    assert flask_get(app, "/api/videos/7").status_code == 200
    assert warned() == []


def test_flask_clear_on_is_checked_and_an_unlike_route_is_not_offered(warned: Warned) -> None:
    app = flask_app(make_signer(), rule("/poster"), clear_on=["/logout"])
    flask_get(app, "/videos")
    poster, logout = warned()
    assert poster.startswith("cfcookie: Rule('/poster') matches no route of the Flask app")
    assert "no route looks like it" in poster
    assert "closest" not in poster
    assert logout.startswith(
        "cfcookie: clear_on[0] '/logout' matches no route of the Flask app, so it never clears "
        "the cookies: the closest route is '/api/logout' (the prefix '/api' is missing); "
        "write '/api/logout'"
    )


def test_flask_checks_at_the_first_request_then_steps_out(warned: Warned) -> None:
    app = flask.Flask(__name__, static_folder=None)
    served = app.wsgi_app
    CloudFrontCookies(app, **options(make_signer(), rules=[rule("/video")]))
    assert warned() == []  # no route yet: the check waits for the first request
    app.add_url_rule("/videos", view_func=ok)
    flask_get(app, "/videos")
    assert len(warned()) == 1
    assert app.wsgi_app.app == served  # the extension calls Flask's app directly now
    flask_get(app, "/videos")
    assert len(warned()) == 1


def test_quart_checks_when_the_app_starts_serving(warned: Warned) -> None:
    """The Quart extension checks in ``before_serving``, once every blueprint is registered."""
    app = quart.Quart(__name__, static_folder=None)
    QuartCookies(app, **options(make_signer(), rules=[rule("/videos/{video_id}")]))
    api = quart.Blueprint("api", __name__, url_prefix="/api")
    api.add_url_rule("/videos/<int:video_id>", view_func=ok)
    app.register_blueprint(api)
    assert warned() == []

    async def serve() -> None:
        async with app.test_app():
            pass

    asyncio.run(serve())
    message = assert_one_warning(
        warned(),
        "Rule('/videos/{video_id}') matches no route of the Quart app",
        "the prefix '/api' is missing",
    )
    assert suggested(message) == "/api/videos/{video_id}"


def test_flask_host_matching_checks_the_rules_host(warned: Warned) -> None:
    app = flask.Flask(__name__, static_folder=None, host_matching=True)
    rules = [rule("/videos", host="www.example.com"), rule("/videos", host="api.example.com")]
    CloudFrontCookies(app, **options(make_signer(), rules=rules))
    app.add_url_rule("/videos", view_func=ok, host="www.example.com")
    flask_get(app, "/videos")
    assert_one_warning(
        warned(),
        "Rule('/videos', host='api.example.com') matches no route of the Flask app on host "
        "'api.example.com'",
        "'/videos' on www.example.com; bind the rule to the host the route is on",
    )


# ---- Starlette: a Mount, a Host ---------------------------------------------------------------
def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def starlette_app(signer: Signer, *rules: Rule, **overrides: Any) -> Starlette:
    media = [Route("/videos/{video_id:int}", page), Route("/videos", page)]
    app = Starlette(
        routes=[
            Mount("/media", routes=media),
            Route("/logout", page, methods=["POST"]),
            Host("api.example.com", app=Router([Route("/feed", page)])),
        ]
    )
    app.add_middleware(AsgiMiddleware, **options(signer, rules=list(rules), **overrides))
    return app


@pytest.mark.parametrize(
    ("typo", "closest", "fix", "hint", "url"),
    [
        (
            "/videos/{video_id}",
            "'/media/videos/{video_id:int}'",
            "/media/videos/{video_id}",
            "the prefix '/media' is missing",
            "/media/videos/7",
        ),
        # Starlette redirects to the other spelling: the redirect is no view.
        ("/media/videos/", "'/media/videos'", "/media/videos", "trailing slash", "/media/videos"),
    ],
)
def test_starlette_a_typo_warns_at_startup_with_the_fix(
    warned: Warned, typo: str, closest: str, fix: str, hint: str, url: str
) -> None:
    with TestClient(starlette_app(make_signer(), rule(typo)), base_url=BASE_URL) as client:
        message = assert_one_warning(  # at the lifespan startup, before any request
            warned(), f"Rule({typo!r}) matches no route of the Starlette app", closest, hint
        )
        client.get(url)
        client.get(url)
    assert len(warned()) == 1
    assert suggested(message) == fix

    signer = make_signer()
    with TestClient(starlette_app(signer, rule(fix)), base_url=BASE_URL) as client:
        response = client.get(url)
    assert response.status_code == 200
    assert_grants(response.headers.get_list("set-cookie"), signer, INSIDE, OUTSIDE)
    assert len(warned()) == 1


def test_starlette_rules_that_match_routes_log_nothing_and_hosts_count(warned: Warned) -> None:
    fine = starlette_app(
        make_signer(), rule("/media/videos/{video_id}"), rule("/media/videos"), clear_on="/logout"
    )
    TestClient(fine, base_url=BASE_URL).get("/media/videos/7")  # no lifespan: the first request
    assert warned() == []

    hosts = [rule("/feed", host="api.example.com"), rule("/feed", host="www.example.com")]
    TestClient(starlette_app(make_signer(), *hosts), base_url=BASE_URL).get("/")
    assert_one_warning(warned(), "Rule('/feed', host='www.example.com')", "on api.example.com")


def test_starlette_the_check_steps_out_of_the_call_chain() -> None:
    app = starlette_app(make_signer(), rule("/media/videos"))
    with TestClient(app, base_url=BASE_URL) as client:
        client.get("/media/videos")
    layer: Any = app.middleware_stack
    while not isinstance(layer, AsgiMiddleware):
        layer = layer.app
    assert layer.app.__class__.__module__.startswith("starlette")  # the next layer, directly


class SwitchedRoute(Route):
    """A custom route the app switches on in its state, read through the ``app`` Starlette puts
    in a real request's scope (the check's own scope has none)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not scope["app"].state.admin:
            return Match.NONE, {}
        return super().matches(scope)


def test_a_router_the_check_cannot_read_leaves_the_rules_unchecked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Starlette(routes=[SwitchedRoute("/admin", page)])
    app.state.admin = True
    app.add_middleware(AsgiMiddleware, **options(make_signer(), rules=[rule("/admin")]))
    with caplog.at_level(logging.DEBUG, logger="cfcookie_middleware"):
        response = TestClient(app, base_url=BASE_URL).get("/admin")
    assert response.status_code == 200
    checks = [r for r in caplog.records if r.name == CHECK_LOGGER]
    assert [(r.levelno, r.getMessage()) for r in checks] == [
        (logging.DEBUG, "cfcookie: rules not checked against the app's routes")
    ]
    assert checks[0].exc_info is not None
    assert checks[0].exc_info[0] is KeyError


# ---- FastAPI: APIRouter(prefix=) and include_router(prefix=) ----------------------------------
def fastapi_app(signer: Signer, *rules: Rule) -> FastAPI:
    app = FastAPI()
    videos = APIRouter(prefix="/videos")

    @videos.get("/{video_id}")
    def video(video_id: int) -> dict[str, int]:
        return {"video": video_id}

    app.include_router(videos, prefix="/api")
    app.add_middleware(AsgiMiddleware, **options(signer, rules=list(rules)))
    return app


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("/videos/{video_id}", " (the prefix '/api' is missing)"),  # include_router's prefix
        ("/api/{video_id}", ";"),  # the APIRouter's own prefix
    ],
)
def test_fastapi_router_prefixes_are_named(warned: Warned, typo: str, hint: str) -> None:
    with TestClient(fastapi_app(make_signer(), rule(typo)), base_url=BASE_URL):
        pass
    message = assert_one_warning(
        warned(),
        f"Rule({typo!r}) matches no route of the FastAPI app",
        f"the closest route is '/api/videos/{{video_id}}'{hint}",
    )
    assert suggested(message) == "/api/videos/{video_id}"

    signer = make_signer()
    with TestClient(fastapi_app(signer, rule("/api/videos/{video_id}")), base_url=BASE_URL) as c:
        response = c.get("/api/videos/7")
    assert response.status_code == 200
    assert_grants(response.headers.get_list("set-cookie"), signer, INSIDE, OUTSIDE)
    assert len(warned()) == 1


# ---- plain WSGI and ASGI apps: no router to read, no check ------------------------------------
def test_apps_without_a_readable_router_are_not_checked(warned: Warned) -> None:
    def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    wsgi = WsgiMiddleware(wsgi_app, **options(make_signer(), rules=[rule("/nowhere")]))
    assert WerkzeugClient(wsgi).get("/nowhere", base_url=BASE_URL).status_code == 200
    asgi = AsgiMiddleware(asgi_app, **options(make_signer(), rules=[rule("/nowhere")]))
    assert TestClient(asgi, base_url=BASE_URL).get("/nowhere").status_code == 200
    assert warned() == []
    assert wsgi.app is wsgi_app
    assert asgi.app is asgi_app


def test_the_warning_is_silenced_through_its_logger(warned: Warned) -> None:
    check_logger = logging.getLogger(CHECK_LOGGER)
    check_logger.setLevel(logging.ERROR)
    try:
        flask_get(flask_app(make_signer(), rule("/video")), "/videos")
    finally:
        check_logger.setLevel(logging.NOTSET)
    assert warned() == []
    flask_get(flask_app(make_signer(), rule("/video")), "/videos")
    assert len(warned()) == 1


# ---- Django: include() ------------------------------------------------------------------------
def django_view(request: HttpRequest, **captured: object) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path(
        "api/",
        include(
            [
                path("videos/<int:video_id>/", django_view),
                re_path(r"^old/(?P<pk>[0-9]+)/$", django_view),
            ]
        ),
    ),
    path("logout/", django_view),
]


@pytest.fixture
def django_settings() -> Iterator[None]:
    """Settings for this module's URLconf; each test gets a fresh resolver, which is checked
    once per process."""
    with configured_django(
        SECRET_KEY="test",
        ALLOWED_HOSTS=[APP_HOST],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["cfcookie_middleware.django.CloudFrontCookieMiddleware"],
    ):
        clear_url_caches()
        try:
            yield
        finally:
            clear_url_caches()


def django_get(url: str) -> Any:
    return DjangoClient(HTTP_HOST=APP_HOST).get(url, secure=True)


@pytest.mark.usefixtures("django_settings")
@pytest.mark.parametrize(
    ("typo", "hint", "fix"),
    [
        ("/videos/{video_id}/", "the prefix '/api' is missing", "/api/videos/{video_id}/"),
        # APPEND_SLASH's redirect is no view.
        ("/api/videos/{video_id}", "only the trailing slash differs", "/api/videos/{video_id}/"),
    ],
)
def test_django_a_typo_warns_once_per_urlconf(
    warned: Warned, typo: str, hint: str, fix: str
) -> None:
    with override_settings(CLOUDFRONT_COOKIES=options(make_signer(), rules=[rule(typo)])):
        django_get("/api/videos/7/")
        django_get("/api/videos/7/")  # another client: the middleware is built again
    message = assert_one_warning(
        warned(),
        f"Rule({typo!r}) matches no route of the Django app",
        "'/api/videos/<int:video_id>/'",
        hint,
    )
    assert suggested(message) == fix
    with override_settings(CLOUDFRONT_COOKIES=options(make_signer(), rules=[rule(fix)])):
        assert django_get("/api/videos/7/").status_code == 200
    assert len(warned()) == 1


@pytest.mark.usefixtures("django_settings")
def test_django_rules_that_resolve_log_nothing(warned: Warned) -> None:
    rules = [rule("/api/videos/{video_id}/"), rule("/api/old/{pk}/")]
    with override_settings(
        CLOUDFRONT_COOKIES=options(make_signer(), rules=rules, clear_on="/logout/")
    ):
        assert django_get("/api/old/3/").status_code == 200
    assert warned() == []


@pytest.mark.usefixtures("django_settings")
def test_django_i18n_patterns_resolve_under_each_language(
    warned: Warned, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LocaleMiddleware`` activates the language a path names, so ``/fr/...`` is routed
    though ``/en/...`` is how the URLconf reads at startup."""
    signer = make_signer()
    rules = [
        rule("/fr/catalogue/{slug}"),
        rule("/{lang}/catalogue/{slug}"),
        rule("/de/catalogue/{slug}"),  # not one of LANGUAGES
    ]
    with override_settings(
        USE_I18N=True,
        LANGUAGE_CODE="en",
        LANGUAGES=[("en", "English"), ("fr", "French")],
        MIDDLEWARE=["django.middleware.locale.LocaleMiddleware", *settings.MIDDLEWARE],
        CLOUDFRONT_COOKIES=options(signer, rules=rules),
    ):
        catalogue = i18n_patterns(path("catalogue/<slug:slug>", django_view))
        monkeypatch.setattr(sys.modules[__name__], "urlpatterns", catalogue)
        client = WerkzeugClient(WSGIHandler())
        french = client.get("/fr/catalogue/intro", base_url=BASE_URL)
        assert client.get("/de/catalogue/intro", base_url=BASE_URL).status_code == 404
    assert french.status_code == 200
    assert_grants(french.headers.getlist("Set-Cookie"), signer, INSIDE, OUTSIDE)
    assert_one_warning(warned(), "Rule('/de/catalogue/{slug}') matches no route of the Django app")


# ---- correct apps log nothing, in every framework ----------------------------------------------
ORG, PROJ = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "12345678-90ab-4cde-8f01-234567890abc"
FRAMEWORKS = ("Flask", "Starlette", "FastAPI", "Django")
# A route in Starlette's spelling, a rule, and a path the route serves and the rule matches.
CORRECT = [
    ("/users/{user_id:str}/library", "/users/{user_id}/library", "/users/alice/library"),
    # Literal text after a field, below a trailing *: the samples cannot guess "library".
    ("/users/{user_id}/library", "/users/{user_id}/*", "/users/alice/library"),
    ("/courses/{course:slug}/lessons/{n:int}", "/courses/{course}/*", "/courses/go-1/lessons/3"),
    (
        "/courses/{course:slug}/lessons/{n:int}",
        "/courses/{course}/lessons/{n}",
        "/courses/a/lessons/3",
    ),
    (
        "/o/{org:uuid}/p/{proj:uuid}/files/{f:path}",
        "/o/{org}/p/{proj}/*",
        f"/o/{ORG}/p/{PROJ}/files/a",
    ),
    # The rule's literal "files" meets a placeholder: only a UUID in both fields reaches it.
    (
        "/o/{org:uuid}/p/{proj:uuid}/{kind:str}/{f:path}",
        "/o/{org}/p/{proj}/files/*",
        f"/o/{ORG}/p/{PROJ}/files/a.txt",
    ),
    # Four fields of mixed converters: more mixes than the samples try.
    (
        "/a/{w:uuid}/b/{x:int}/c/{y:str}/d/{z:float}",
        "/a/{w}/b/{x}/c/{y}/d/{z}",
        f"/a/{ORG}/b/1/c/x/d/2.5",
    ),
    ("/items/{item:uuid}/{version:float}", "/items/{item}/{version}", f"/items/{ORG}/1.5"),
    ("/files/{name:path}", "/files/*", "/files/a/b.txt"),
    ("/files/{name:path}", "/files/docs/*", "/files/docs/a.txt"),
    ("/files/{name:path}", "/files/{folder}/{name}", "/files/docs/a.txt"),
    ("/videos/{video_id:int}/stream", "/videos/*", "/videos/7/stream"),
    ("/users/me", "/users/{user_id}", "/users/me"),  # a field rule over a literal route
    ("/v{n:int}/docs", "/{version}/docs", "/v2/docs"),  # a placeholder inside a segment
    ("/reports/{year:int}/{month:int}/", "/reports/*", "/reports/2024/5/"),
    ("/library/", "/library/", "/library/"),
]
# Near misses of the same routes: each still warns.
MISSES = [
    ("/users/{user_id:str}/library", "/user/{user_id}/*"),
    ("/users/{user_id:str}/library", "/users/{user_id}/library/*"),
    ("/videos/{video_id:int}", "/videos/{video_id}/"),
    ("/files/{name:path}", "/file/*"),
    ("/o/{org:uuid}/p/{proj:uuid}/{kind:str}", "/o/{org}/q/{proj}/files"),
]
CONVERTERS = {  # what each router calls the converter, where it has one
    "Flask": {"str": "string", "slug": "string"},
    "Starlette": {"slug": "str"},
    "FastAPI": {"slug": "str"},
    "Django": {"float": "str"},
}


def spelled(route: str, framework: str) -> str:
    """``route`` in ``framework``'s syntax: ``<int:n>`` for Werkzeug and Django (whose routes
    have no leading slash), ``{n:int}`` for Starlette; ``{n}`` is each one's default."""

    def field(found: re.Match[str]) -> str:
        name, converter = found.groups()
        converter = CONVERTERS[framework].get(converter, converter)
        if framework in ("Starlette", "FastAPI"):
            return f"{{{name}}}" if converter is None else f"{{{name}:{converter}}}"
        return f"<{name}>" if converter is None else f"<{converter}:{name}>"

    text = re.sub(r"\{(\w+)(?::(\w+))?\}", field, route)
    return text.removeprefix("/") if framework == "Django" else text


def fastapi_view() -> str:
    return "ok"


def get_one_route(
    request: pytest.FixtureRequest, framework: str, route: str, url: str, **given: Any
) -> tuple[int, list[str]]:
    """GET ``url`` of an app whose one route is ``route``, under the middleware with the
    options ``given`` (the check runs before or at this first call): the status and the
    ``Set-Cookie`` values."""
    route = spelled(route, framework)
    if framework == "Flask":
        app = flask.Flask(__name__, static_folder=None)
        CloudFrontCookies(app, **given)
        app.add_url_rule(route, view_func=ok)
        response = flask_get(app, url)
        return response.status_code, response.headers.getlist("Set-Cookie")
    if framework == "Django":
        request.getfixturevalue("django_settings")
        request.getfixturevalue("monkeypatch").setattr(
            sys.modules[__name__], "urlpatterns", [path(route, django_view)]
        )
        with override_settings(CLOUDFRONT_COOKIES=given):
            answer = WerkzeugClient(WSGIHandler()).get(url, base_url=BASE_URL)
        return answer.status_code, answer.headers.getlist("Set-Cookie")
    if framework == "Starlette":
        asgi: Starlette = Starlette(routes=[Route(route, page)])
    else:
        asgi = FastAPI()
        asgi.add_api_route(route, fastapi_view)
    asgi.add_middleware(AsgiMiddleware, **given)
    with TestClient(asgi, base_url=BASE_URL) as client:
        reply = client.get(url)
    return reply.status_code, reply.headers.get_list("set-cookie")


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(("route", "pattern", "url"), CORRECT)
def test_a_rule_its_route_serves_logs_nothing_and_grants(
    warned: Warned,
    request: pytest.FixtureRequest,
    framework: str,
    route: str,
    pattern: str,
    url: str,
) -> None:
    signer = make_signer()
    given = options(signer, rules=[rule(pattern)])
    status, set_cookies = get_one_route(request, framework, route, url, **given)
    assert status == 200
    assert_grants(set_cookies, signer, INSIDE, OUTSIDE)
    assert warned() == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(("route", "pattern"), MISSES)
def test_a_near_miss_of_the_route_still_warns(
    warned: Warned, request: pytest.FixtureRequest, framework: str, route: str, pattern: str
) -> None:
    given = options(make_signer(), rules=[rule(pattern)])
    status, set_cookies = get_one_route(request, framework, route, "/nowhere", **given)
    assert (status, set_cookies) == (404, [])
    assert_one_warning(warned(), f"Rule({pattern!r}) matches no route of the")


# ---- clear_on: no other route is offered -------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_clear_on_never_offers_another_route(
    warned: Warned, request: pytest.FixtureRequest, framework: str
) -> None:
    """Following "the closest route is '/login'" would clear the cookies at every login."""
    given = options(make_signer(), rules=[], clear_on=["/logout"])
    assert get_one_route(request, framework, "/login", "/login", **given)[0] == 200
    (message,) = warned()
    assert message.startswith(
        f"cfcookie: clear_on[0] '/logout' matches no route of the {framework} app, "
        "so it never clears the cookies; no route has that path, even with another prefix "
        "or trailing slash: check the path of the logout view"
    )
    assert "login" not in message


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_clear_on_names_a_route_that_differs_by_a_prefix_and_a_slash(
    warned: Warned, request: pytest.FixtureRequest, framework: str
) -> None:
    logout = "/accounts/logout/"
    given = options(make_signer(), rules=[], clear_on=["/logout"])
    get_one_route(request, framework, logout, logout, **given)
    (message,) = warned()
    assert (
        f"the closest route is '{logout}' (the prefix '/accounts' is missing, and the trailing "
        f"slash differs); write '{logout}'"
    ) in message
    status, set_cookies = get_one_route(
        request, framework, logout, logout, **options(make_signer(), rules=[], clear_on=[logout])
    )
    assert status == 200
    cleared = cloudfront_set_cookies(set_cookies)
    assert set(cleared) == set(CLOUDFRONT_NAMES)
    assert {cookie.attributes.get("max-age") for cookie in cleared.values()} == {"0"}
    assert len(warned()) == 1
