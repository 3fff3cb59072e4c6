"""Grants named at Flask views: ``@cloudfront.grant(...)`` and ``grant(response, ...)``, through
Flask's own test client; the contract in ``grant_contract`` plus what is Flask's own."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import flask
import pytest
from grant_contract import (
    IMPERATIVE,
    LIBRARY,
    LIBRARY_TERMS,
    POSTER,
    POSTER_TTL,
    VIDEOS,
    Answer,
    Fetch,
    GrantContract,
    course_media,
)
from middleware_helpers import (
    BASE_URL,
    CLIENT_IP,
    MEDIA,
    Clock,
    assert_grants,
    make_signer,
    options,
)
from werkzeug.exceptions import abort

from cfcookie_middleware import grant
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.signing import ConfigurationError

pytestmark = pytest.mark.filterwarnings("error")
BOTH_METHODS = ["GET", "POST"]


def answer_as_asked() -> flask.Response:
    """The view's own answer: ``?status=N`` with that status, ``?raise=N`` by raising."""
    raised = flask.request.args.get("raise")
    if raised == "500":
        raise RuntimeError("the view broke")
    if raised is not None:
        abort(int(raised))
    return flask.make_response("answer", int(flask.request.args.get("status", 200)))


def contract_app(**config: Any) -> flask.Flask:
    cloudfront = CloudFrontCookies(**config)
    app = flask.Flask(__name__)
    app.config.update(PROPAGATE_EXCEPTIONS=False)

    @app.route("/videos/<video_id>", methods=BOTH_METHODS)
    @cloudfront.grant(VIDEOS)
    def videos(video_id: str) -> flask.Response:
        return answer_as_asked()

    @app.get("/both/<int:video_id>")  # a converter: the template gets its text
    @cloudfront.grant(VIDEOS)
    def both(video_id: int) -> flask.Response:
        return answer_as_asked()

    @app.get("/poster")
    @cloudfront.grant(POSTER, ttl=POSTER_TTL)
    def poster() -> str:
        return "a poster"  # made into a response by the decorator, as Flask would

    @app.get("/library/<user_id>")
    @cloudfront.grant(LIBRARY, **LIBRARY_TERMS)
    async def library(user_id: str) -> str:  # an async view, run by Flask's ensure_sync
        return f"library of {user_id}"

    @app.get("/imperative/<name>")
    def imperative(name: str) -> flask.Response:
        response = answer_as_asked()
        grant(response, IMPERATIVE)  # the request and its URL parameters: flask.request's
        return response

    @app.get("/courses/<course>")
    @cloudfront.grant(course_media)
    def courses(course: str) -> str:
        return course

    @app.get("/logout")
    def logout() -> str:
        return "bye"

    cloudfront.init_app(app)  # after the views: an app factory's order
    return app


def fetcher(app: flask.Flask) -> Fetch:
    client = app.test_client(use_cookies=False)  # its jar would drop the Cookie header given

    def fetch(path: str, *, method: str = "GET", cookie: str = "") -> Answer:
        response = client.open(
            path,
            method=method,
            base_url=BASE_URL,
            headers={"Cookie": cookie} if cookie else {},
            environ_base={"REMOTE_ADDR": CLIENT_IP},
        )
        return Answer(response.status_code, list(response.headers.items()))

    return fetch


class TestFlaskGrants(GrantContract):
    @pytest.fixture
    def serve(self) -> Callable[..., Fetch]:
        return lambda **config: fetcher(contract_app(**config))


# ---- Flask's own --------------------------------------------------------------------------
def test_the_decorator_works_before_and_after_init_app_and_per_app() -> None:
    signer, clock = make_signer(), Clock()
    cloudfront = CloudFrontCookies(**options(signer, rules=[], clock=clock))
    apps = [flask.Flask("one"), flask.Flask("two")]
    cloudfront.init_app(apps[0])

    @cloudfront.grant(VIDEOS)
    def videos(video_id: str) -> str:
        return video_id

    for app in apps:
        app.add_url_rule("/videos/<video_id>", view_func=videos)
    cloudfront.init_app(apps[1])
    for app in apps:
        answer = fetcher(app)("/videos/9")
        assert_grants(answer.set_cookies, signer, f"{MEDIA}/videos/9/a", None, now=clock.now)


def test_a_view_without_the_template_s_parameter_is_refused_at_decoration() -> None:
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))
    with pytest.raises(ConfigurationError, match=r"video_id is not a parameter of the view"):

        @cloudfront.grant(VIDEOS)
        def watch(name: str) -> str:
            return name


def test_the_decorator_without_its_resource_is_refused_at_decoration() -> None:
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))
    with pytest.raises(ConfigurationError, match=r"did you write @cloudfront\.grant without \("):

        @cloudfront.grant  # type: ignore[arg-type]
        def index() -> str:
            return "home"


@pytest.mark.parametrize("init_first", [True, False], ids=["init-first", "decorate-first"])
def test_a_grant_the_options_cannot_serve_is_refused_before_any_request(init_first: bool) -> None:
    """Checked as a rule is, whichever comes first: the extension or the decorator."""
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))  # .example.com
    app = flask.Flask(__name__)
    elsewhere = "https://media.example.org/videos/*"
    if init_first:
        cloudfront.init_app(app)
        with pytest.raises(ConfigurationError, match=r"does not cover media\.example\.org"):
            cloudfront.grant(elsewhere)
    else:
        cloudfront.grant(elsewhere)
        with pytest.raises(ConfigurationError, match=r"does not cover media\.example\.org"):
            cloudfront.init_app(app)


@pytest.mark.parametrize(
    ("terms", "match"),
    [
        ({"ttl": timedelta(hours=-1)}, r"grant\(.*\)\.ttl: .* positive timedelta"),
        ({"cookie_path": "/videos/*"}, r"grant\(.*\)\.cookie_path: .* glob"),
        ({"cookie_path": "/images/"}, "would never send cookies with Path=/images/"),
    ],
)
def test_bad_terms_name_the_grant(terms: dict[str, Any], match: str) -> None:
    app = flask.Flask(__name__)  # held: the extension keeps its apps' cores weakly
    cloudfront = CloudFrontCookies(app, **options(make_signer(), rules=[]))
    gc.collect()  # an app the test did not hold would be gone here, and its check with it
    with pytest.raises(ConfigurationError, match=match):
        cloudfront.grant(VIDEOS.replace("{video_id}", "v"), **terms)


def test_the_decorator_in_an_app_without_the_extension_is_an_error() -> None:
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))
    app = flask.Flask(__name__)
    app.config.update(TESTING=True)  # the error reaches the test, not a 500 page

    @app.get("/videos/<video_id>")
    @cloudfront.grant(VIDEOS)
    def videos(video_id: str) -> str:
        return video_id

    with pytest.raises(ConfigurationError, match=r"has no CloudFrontCookies; .* init_app"):
        app.test_client().get("/videos/1", base_url=BASE_URL)


def test_grant_outside_a_request_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="no Flask request is active"):
        grant(flask.Response("x"), POSTER)


def test_a_decorator_above_the_route_s_warns_at_the_first_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``@app.route`` registers the function it is given: below ``@cloudfront.grant``, that is
    the undecorated view, which then hands out nothing; so does the decorator itself, written
    without its resource. One warning names both, blueprints included."""
    caplog.set_level(logging.WARNING, logger="cfcookie_middleware")
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))
    app = flask.Flask(__name__)
    shop = flask.Blueprint("shop", __name__, url_prefix="/shop")

    @cloudfront.grant(VIDEOS)
    @shop.get("/videos/<video_id>")
    def upside_down(video_id: str) -> str:
        return video_id

    @app.get("/watch/<video_id>")
    @cloudfront.grant  # type: ignore[arg-type]
    def bare(video_id: str) -> str:
        return video_id

    @app.get("/fine/<video_id>")
    @cloudfront.grant(VIDEOS)
    def fine(video_id: str) -> str:
        return video_id

    app.register_blueprint(shop)
    cloudfront.init_app(app)
    assert not caplog.records  # the routes are known at the first request
    assert fetcher(app)("/fine/1").status == 200
    fetcher(app)("/fine/2")
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "cfcookie_middleware.grants"]
    assert "views registered without their grant hand out no cookies" in warning
    assert "'shop.upside_down': grant('https://media.example.com/videos/{video_id}/*')" in warning
    assert "put @cloudfront.grant below @app.route" in warning
    assert "'decorate': the decorator grant('" in warning  # Flask names it after the function
    assert "<locals>.bare')" in warning
    assert "did you write @cloudfront.grant without (resource)?" in warning
    assert "'fine'" not in warning
