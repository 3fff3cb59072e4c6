"""Grants named at Quart views: ``@cloudfront.grant(...)`` and ``grant(response, ...)``, through
Quart's own test client; the contract in ``grant_contract`` plus what is Quart's own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
import quart
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
    assert_signs_off_the_loop,
    course_media,
)
from middleware_helpers import (
    APP_HOST,
    CLIENT_IP,
    make_signer,
    options,
)
from quart.typing import ResponseReturnValue

from cfcookie_middleware import grant
from cfcookie_middleware.quart import CloudFrontCookies
from cfcookie_middleware.signing import ConfigurationError

pytestmark = pytest.mark.filterwarnings("error")
BOTH_METHODS = ["GET", "POST"]


async def answer_as_asked() -> quart.Response:
    """The view's own answer: ``?status=N`` with that status, ``?raise=N`` by raising."""
    raised = quart.request.args.get("raise")
    if raised == "500":
        raise RuntimeError("the view broke")
    if raised is not None:
        quart.abort(int(raised))
    return await quart.make_response("answer", int(quart.request.args.get("status", 200)))


def contract_app(**config: Any) -> quart.Quart:
    cloudfront = CloudFrontCookies(**config)
    app = quart.Quart(__name__)
    app.config.update(PROPAGATE_EXCEPTIONS=False)

    @app.route("/videos/<video_id>", methods=BOTH_METHODS)
    @cloudfront.grant(VIDEOS)
    async def videos(video_id: str) -> quart.Response:
        return await answer_as_asked()

    @app.get("/both/<int:video_id>")  # a converter: the template gets its text
    @cloudfront.grant(VIDEOS)
    async def both(video_id: int) -> quart.Response:
        return await answer_as_asked()

    @app.get("/poster")
    @cloudfront.grant(POSTER, ttl=POSTER_TTL)
    def poster() -> str:  # a sync view, run by Quart's ensure_async
        return "a poster"  # made into a response by the decorator, as Quart would

    @app.get("/library/<user_id>")
    @cloudfront.grant(LIBRARY, **LIBRARY_TERMS)
    def library(user_id: str) -> ResponseReturnValue:
        return f"library of {user_id}", 200

    @app.get("/imperative/<name>")
    async def imperative(name: str) -> quart.Response:
        response = await answer_as_asked()
        grant(response, IMPERATIVE)  # the request and its URL parameters: quart.request's
        return response

    @app.get("/courses/<course>")
    @cloudfront.grant(course_media)
    async def courses(course: str) -> str:
        return course

    @app.get("/logout")
    async def logout() -> str:
        return "bye"

    cloudfront.init_app(app)  # after the views: an app factory's order
    return app


def fetcher(app: quart.Quart) -> Fetch:
    def fetch(path: str, *, method: str = "GET", cookie: str = "") -> Answer:
        async def run() -> quart.Response:
            client = app.test_client()
            client.cookie_jar = None  # each request carries only the Cookie header given
            headers = {"Host": APP_HOST, **({"Cookie": cookie} if cookie else {})}
            return await client.open(
                path,
                method=method,
                scheme="https",
                headers=headers,
                scope_base={"client": (CLIENT_IP, 50000)},
            )

        response = asyncio.run(run())
        return Answer(response.status_code, list(response.headers.items()))

    return fetch


class TestQuartGrants(GrantContract):
    @pytest.fixture
    def serve(self) -> Callable[..., Fetch]:
        return lambda **config: fetcher(contract_app(**config))


# ---- Quart's own --------------------------------------------------------------------------
def test_a_remote_signer_signs_off_the_event_loop() -> None:
    assert_signs_off_the_loop(lambda **config: fetcher(contract_app(**config)))


def test_the_decorator_in_an_app_without_the_extension_is_an_error() -> None:
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))
    app = quart.Quart(__name__)

    @app.get("/videos/<video_id>")
    @cloudfront.grant(VIDEOS)
    async def videos(video_id: str) -> str:
        return video_id

    async def call_the_view() -> None:
        async with app.test_request_context("/videos/1"):  # the error, not Quart's 500 page
            await app.view_functions["videos"](video_id="1")

    with pytest.raises(ConfigurationError, match=r"has no CloudFrontCookies; .* init_app"):
        asyncio.run(call_the_view())


def test_grant_outside_a_request_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="no Quart request is active"):
        grant(quart.Response("x"), POSTER)


def test_a_decorator_above_the_route_s_warns_when_the_app_starts_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cfcookie_middleware")
    cloudfront = CloudFrontCookies(**options(make_signer(), rules=[]))
    app = quart.Quart(__name__)

    @cloudfront.grant(VIDEOS)
    @app.get("/videos/<video_id>")
    async def upside_down(video_id: str) -> str:
        return video_id

    cloudfront.init_app(app)

    async def serve() -> None:
        async with app.test_app():
            pass

    asyncio.run(serve())
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "cfcookie_middleware.grants"]
    assert "'upside_down': grant(" in warning
    assert "put @cloudfront.grant below @app.route" in warning
