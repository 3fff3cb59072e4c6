"""The Quart extension, through Quart's own test client: it finishes each response inside
Quart's request context, so ``when`` reads ``quart.session``; it sees the responses Quart's
error handlers make, and a remote signer signs off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import quart
from conftest import import_error_without
from middleware_helpers import (
    APP_HOST,
    BAD_CONFIGS,
    CUSTOM_SET,
    DOMAIN,
    KEY_ID,
    MEDIA,
    BadConfig,
    GatedBackend,
    assert_grants,
    cloudfront_set_cookies,
    make_signer,
    options,
)
from quart.typing import ResponseReturnValue
from quart.wrappers import Response
from werkzeug.exceptions import InternalServerError

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.quart import CloudFrontCookies
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.signing import ConfigurationError, Signer

pytestmark = pytest.mark.filterwarnings("error")

PREFIX = "CLOUDFRONT_COOKIES_"
SITE: dict[str, Any] = {"scheme": "https", "headers": {"Host": APP_HOST}}


def logged_in(view: RequestView) -> bool:
    """The ``when`` of these tests: Quart's session, read where Quart keeps it."""
    return "user" in quart.session


def quart_app(**config: Any) -> quart.Quart:
    """Routes for the default rules: a login, a page with headers of its own, a streamed body,
    a refusal, a missing page and a bug (each with an error handler of the app's), a redirect."""
    app = quart.Quart(__name__)
    app.config.update(SECRET_KEY="test", PROPAGATE_EXCEPTIONS=False, **config)

    @app.post("/login")
    async def login() -> ResponseReturnValue:
        quart.session["user"] = (await quart.request.form)["user"]
        return "", 204

    @app.route("/videos/<path:name>", methods=["GET", "POST"])
    async def video(name: str) -> Response:
        response = await quart.make_response(f"video {name}")
        response.set_cookie("app", "abc123", httponly=True)
        response.headers["X-Custom"] = "kept as is"
        response.headers["Cache-Control"] = "public, max-age=60, s-maxage=600"
        return response

    @app.get("/videos/streamed")
    async def streamed() -> ResponseReturnValue:
        async def body() -> AsyncIterator[bytes]:
            yield b"part one, "
            yield b"part two"

        return body(), 200, {"Content-Type": "text/plain"}

    @app.get("/videos/broken")
    async def broken() -> str:
        raise ZeroDivisionError("a bug in the view")

    @app.get("/videos/moved")
    async def moved() -> ResponseReturnValue:
        return quart.redirect("/videos/a.mp4")

    @app.get("/users/<user_id>/library")
    async def library(user_id: str) -> str:
        if user_id == "mallory":
            quart.abort(403)
        if user_id == "nobody":
            quart.abort(404)
        return f"library of {user_id}"

    @app.errorhandler(404)
    async def not_found(error: Exception) -> ResponseReturnValue:
        return "custom not found page", 404

    @app.errorhandler(InternalServerError)
    async def server_error(error: Exception) -> ResponseReturnValue:
        return "custom error page", 500

    return app


def visit(app: quart.Quart, *urls: str, user: str | None = None, **kwargs: Any) -> list[Response]:
    """GET each URL in turn with one client (a browser's cookie jar), logged in first as
    ``user`` when given."""

    async def run() -> list[Response]:
        client = app.test_client()
        if user is not None:
            await client.post("/login", form={"user": user}, **SITE)
        return [await client.get(url, **SITE, **kwargs) for url in urls]

    return asyncio.run(run())


def set_cookies(response: Response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def test_extension_adds_the_grant_and_keeps_the_apps_headers() -> None:
    signer = make_signer()
    app = quart_app()
    CloudFrontCookies(app, **options(signer))
    [response] = visit(app, "/videos/a.mp4")
    assert (response.status_code, asyncio.run(response.get_data())) == (200, b"video a.mp4")
    assert response.headers["X-Custom"] == "kept as is"
    assert response.headers.getlist("Cache-Control") == ["private, max-age=60"]
    assert response.headers.getlist("Vary") == ["Cookie"]
    assert [v for v in set_cookies(response) if v.startswith("app=")] == [
        "app=abc123; HttpOnly; Path=/"
    ]
    assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a")
    assert isinstance(app.extensions["cfcookie"], CookieCore)


def test_when_reads_quart_session_and_gets_the_quart_request() -> None:
    signer = make_signer()
    seen: list[tuple[RequestView, Any]] = []

    def when(view: RequestView) -> bool:
        seen.append((view, view.session))
        return logged_in(view)

    app = quart_app()
    CloudFrontCookies(app, **options(signer, when=when))
    [anonymous] = visit(app, "/videos/a.mp4")
    [member] = visit(app, "/videos/a.mp4", user="alice")
    assert anonymous.status_code == member.status_code == 200
    assert not cloudfront_set_cookies(set_cookies(anonymous))
    assert_grants(set_cookies(member), signer, f"{MEDIA}/videos/a.mp4", None)
    # Quart adds "Vary: Cookie" for the session it saved after the extension ran: once.
    assert member.headers.getlist("Vary") == ["Cookie"]
    assert [session for _, session in seen] == [{}, {"user": "alice"}]
    [(_, anonymous_session), (view, session)] = seen
    assert type(session) is type(anonymous_session) is quart.sessions.SecureCookieSession
    assert type(view.native) is quart.Request
    assert (view.path, view.host, view.user) == ("/videos/a.mp4", APP_HOST, None)


def test_a_streamed_body_goes_out_whole_with_the_grant() -> None:
    signer = make_signer()
    app = quart_app()
    CloudFrontCookies(app, **options(signer, when=logged_in))
    [response] = visit(app, "/videos/streamed", user="alice")
    assert asyncio.run(response.get_data()) == b"part one, part two"
    assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/streamed", None)


@pytest.mark.parametrize(
    ("url", "status", "body"),
    [
        ("/users/mallory/library", 403, None),
        ("/users/nobody/library", 404, b"custom not found page"),
        ("/videos/broken", 500, b"custom error page"),
        ("/videos/moved", 302, None),
    ],
)
def test_error_responses_hand_out_nothing(url: str, status: int, body: bytes | None) -> None:
    app = quart_app()
    CloudFrontCookies(app, **options(make_signer(), when=logged_in))
    [response] = visit(app, url, user="alice")
    assert response.status_code == status
    if body is not None:  # the app's own error handler made it
        assert asyncio.run(response.get_data()) == body
    assert not cloudfront_set_cookies(set_cookies(response))


def test_it_runs_after_the_apps_own_after_request_functions() -> None:
    """Quart runs the last registered ``after_request`` function first; one registered before
    the extension still runs before it, so a ``public`` it sets cannot put the grant into a
    shared cache."""
    signer = make_signer()
    app = quart_app()

    @app.after_request
    async def cache_publicly(response: Response) -> Response:
        response.headers["Cache-Control"] = "public, s-maxage=600"
        return response

    CloudFrontCookies(app, **options(signer))
    [response] = visit(app, "/users/alice/library")
    assert response.headers.getlist("Cache-Control") == ["private"]
    assert_grants(set_cookies(response), signer, f"{MEDIA}/users/alice/a", None)


@pytest.mark.parametrize(("method", "status"), [("OPTIONS", 200), ("HEAD", 200), ("POST", 200)])
def test_only_a_get_earns_cookies(method: str, status: int) -> None:
    """Quart answers OPTIONS itself, runs the GET view for a HEAD; this view takes a POST too:
    none of them earns cookies by default, a POST does when ``methods`` names it (config)."""
    app = quart_app()
    CloudFrontCookies(app, **options(make_signer()))
    allowing = quart_app(**{f"{PREFIX}METHODS": ["GET", "POST"]})
    CloudFrontCookies(allowing, **options(make_signer()))

    async def send(app: quart.Quart) -> Response:
        return await app.test_client().open("/videos/a.mp4", method=method, **SITE)

    reply = asyncio.run(send(app))
    assert reply.status_code == status
    assert not cloudfront_set_cookies(set_cookies(reply))
    granted = cloudfront_set_cookies(set_cookies(asyncio.run(send(allowing))))
    assert bool(granted) is (method == "POST")


def test_rules_match_the_path_quart_routes_on_below_root_path() -> None:
    signer = make_signer()
    app = quart_app()
    CloudFrontCookies(app, **options(signer))
    [response] = visit(app, "/app/videos/a.mp4", root_path="/app")
    assert asyncio.run(response.get_data()) == b"video a.mp4"
    assert_grants(set_cookies(response), signer, f"{MEDIA}/videos/a.mp4", None)


def test_init_app_reads_config_and_a_keyword_wins() -> None:
    """Flask's rules (the same code, tested in test_flask.py): every option from the config
    too, a keyword over the config's, and one ``init_app`` per app."""
    signer = make_signer()
    configured = options(signer, samesite="strict")
    app = quart_app(**{PREFIX + name.upper(): value for name, value in configured.items()})
    extension = CloudFrontCookies(samesite="lax")
    extension.init_app(app)
    [response] = visit(app, "/videos/a.mp4")
    cookies = cloudfront_set_cookies(set_cookies(response))
    assert set(cookies) == CUSTOM_SET
    assert {cookie.attributes["samesite"] for cookie in cookies.values()} == {"Lax"}
    assert {cookie.attributes["domain"] for cookie in cookies.values()} == {DOMAIN}
    with pytest.raises(ConfigurationError, match="already"):
        extension.init_app(app)


@pytest.mark.parametrize(
    "case", [case for case in BAD_CONFIGS if case.stage == "build"], ids=lambda case: case.id
)
def test_configuration_errors_surface_at_init_app(case: BadConfig) -> None:
    """Keyword or config, a bad option fails while the app is set up and leaves it unhooked."""
    signer = make_signer()
    by_keyword = quart_app()
    with pytest.raises(ConfigurationError, match=case.match):
        CloudFrontCookies(by_keyword, **case.make(signer))
    by_config = quart_app(**{PREFIX + k.upper(): v for k, v in case.make(signer).items()})
    with pytest.raises(ConfigurationError, match=case.match):
        CloudFrontCookies().init_app(by_config)
    for app in (by_keyword, by_config):
        assert "cfcookie" not in app.extensions
        assert not app.after_request_funcs.get(None)


def test_a_slow_signer_never_blocks_the_event_loop() -> None:
    """A KMS-like signer held at a gate: while it waits (in a worker thread, where ``when``
    still reads the session), Quart answers another request on the same loop; then the
    waiting response goes out with a set CloudFront accepts."""
    backend = GatedBackend()
    signer = Signer(KEY_ID, backend)
    app = quart_app()
    CloudFrontCookies(app, **options(signer, when=logged_in))

    async def run() -> tuple[Response, Response, bool]:
        client = app.test_client()
        await client.post("/login", form={"user": "alice"}, **SITE)
        backend.armed = True
        granted = asyncio.create_task(client.get("/videos/a.mp4", **SITE))
        await asyncio.to_thread(backend.wait_for, 1)  # off the loop: it polls
        unrelated = await client.get("/users/mallory/library", **SITE)
        waiting = not granted.done()
        backend.release.set()
        return await granted, unrelated, waiting

    response, unrelated, waiting = asyncio.run(run())
    assert (unrelated.status_code, waiting) == (403, True)
    assert backend.on_a_loop == 0
    assert_grants(
        set_cookies(response),
        signer,
        f"{MEDIA}/videos/a.mp4",
        None,
        expected_names={*CUSTOM_SET, "CloudFront-Hash-Algorithm"},
    )


def test_importing_without_quart_names_the_extra() -> None:
    message = import_error_without("cfcookie_middleware.quart", "quart")
    assert 'pip install "cfcookie-middleware[quart]"' in message
