"""Grants named at FastAPI routes (``Depends(grant(...))`` on a ``GrantRoute``) and at Starlette
views (``grant(response, ..., request=request)``), through Starlette's own test client; the
contract in ``grant_contract`` plus what is FastAPI's and Starlette's own.

FastAPI builds the response after the dependencies and the endpoint ran: the contract's views set
their status on FastAPI's injected ``Response`` (``?status=``), which is exactly what a
dependency cannot see, and the library's grant sits on an included router with a path prefix."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
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
    BASE_URL,
    CLIENT_IP,
    KEY_ID,
    MEDIA,
    Clock,
    assert_grants,
    cloudfront_set_cookies,
    make_signer,
    options,
    parse_set_cookie,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router

from cfcookie_middleware import grant as grant_response
from cfcookie_middleware.asgi import ASGIApp, CloudFrontCookieMiddleware
from cfcookie_middleware.fastapi import GrantRoute, grant
from cfcookie_middleware.signing import ConfigurationError

pytestmark = pytest.mark.filterwarnings("error")
Raise = Annotated[int | None, Query(alias="raise")]


def answer_as_asked(response: Response, status: int, raised: int | None) -> dict[str, str]:
    """The endpoint's answer: ``?status=N`` set on the injected response, ``?raise=N``
    raised (500: an unexpected exception)."""
    if raised == 500:
        raise RuntimeError("the endpoint broke")
    if raised is not None:
        raise HTTPException(raised)
    response.status_code = status
    return {"answer": "yes"}


def contract_app(**config: Any) -> FastAPI:
    app = FastAPI()
    app.router.route_class = GrantRoute  # before the routes

    @app.api_route("/videos/{video_id}", methods=["GET", "POST"])
    def videos(
        video_id: str,
        response: Response,
        grant_: None = Depends(grant(VIDEOS)),
        status: int = 200,
        raised: Raise = None,
    ) -> dict[str, str]:
        return answer_as_asked(response, status, raised)

    @app.get("/both/{video_id}", dependencies=[Depends(grant(VIDEOS))])
    async def both(video_id: int, status: int = 200) -> Response:
        return JSONResponse({"video": video_id}, status_code=status)  # its own response

    @app.get("/poster", dependencies=[Depends(grant(POSTER, ttl=POSTER_TTL))])
    def poster() -> dict[str, str]:
        return {"poster": "yes"}

    library = APIRouter(route_class=GrantRoute)

    @library.get("")
    def shelf(user_id: str) -> dict[str, str]:
        return {"library": user_id}

    app.include_router(
        library,
        prefix="/library/{user_id}",  # the template's name comes from the prefix
        dependencies=[Depends(grant(LIBRARY, **LIBRARY_TERMS))],
    )

    @app.get("/imperative/{name}")
    async def imperative(
        name: str, request: Request, response: Response, status: int = 200
    ) -> dict[str, str]:
        response.status_code = status
        grant_response(response, IMPERATIVE, request=request)  # waits for the GrantRoute
        return {"name": name}

    @app.get("/courses/{course}", dependencies=[Depends(grant(course_media))])
    def courses(course: str) -> dict[str, str]:
        return {"course": course}

    @app.get("/logout")
    def logout() -> dict[str, str]:
        return {"bye": "yes"}

    app.add_middleware(CloudFrontCookieMiddleware, **config)
    return app


def from_client_ip(app: ASGIApp) -> ASGIApp:
    """The client address a server would put in the scope (Starlette 0.40's test client
    cannot set one)."""

    async def served(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["client"] = (CLIENT_IP, 50000)
        await app(scope, receive, send)

    return served


@pytest.fixture
def serving() -> Iterator[Callable[..., Fetch]]:
    """``serving(app)``: a ``Fetch`` through the test client, which is closed at the end."""
    with ExitStack() as stack:

        def serving(app: ASGIApp, *, raise_server_exceptions: bool = False) -> Fetch:
            client = stack.enter_context(
                TestClient(
                    from_client_ip(app),
                    base_url=BASE_URL,
                    raise_server_exceptions=raise_server_exceptions,
                )
            )

            def fetch(path: str, *, method: str = "GET", cookie: str = "") -> Answer:
                client.cookies.clear()  # each request carries only the Cookie header given
                headers = {"Cookie": cookie} if cookie else {}
                response = client.request(method, path, headers=headers, follow_redirects=False)
                return Answer(response.status_code, response.headers.multi_items())

            return fetch

        yield serving


class TestFastAPIGrants(GrantContract):
    @pytest.fixture
    def serve(self, serving: Callable[..., Fetch]) -> Callable[..., Fetch]:
        return lambda **config: serving(contract_app(**config))


# ---- FastAPI's and Starlette's own ------------------------------------------------------------
def test_a_route_s_declared_status_is_the_one_judged(serving: Callable[..., Fetch]) -> None:
    signer, clock = make_signer(), Clock()
    app = FastAPI()
    app.router.route_class = GrantRoute

    @app.post("/videos/{video_id}", status_code=201, dependencies=[Depends(grant(VIDEOS))])
    def created(video_id: str) -> dict[str, str]:
        return {"video": video_id}

    @app.get("/moved/{video_id}", status_code=302, dependencies=[Depends(grant(VIDEOS))])
    def moved(video_id: str, response: Response) -> None:
        response.headers["Location"] = "/elsewhere"

    app.add_middleware(
        CloudFrontCookieMiddleware,
        **options(signer, rules=[], clock=clock, methods=["GET", "POST"]),
    )
    fetch = serving(app)
    answer = fetch("/videos/7", method="POST")
    assert answer.status == 201
    assert_grants(answer.set_cookies, signer, f"{MEDIA}/videos/7/a", None, now=clock.now)
    redirect = fetch("/moved/7")
    assert redirect.status == 302
    assert not cloudfront_set_cookies(redirect.set_cookies)


def test_a_starlette_view_grants_on_the_response_it_returns(serving: Callable[..., Fetch]) -> None:
    signer, clock = make_signer(), Clock()

    async def watch(request: Request) -> Response:
        status = int(request.query_params.get("status", 200))
        response = PlainTextResponse("a video", status_code=status)
        grant_response(response, VIDEOS, request=request, ttl=POSTER_TTL)
        return response

    app = Starlette(
        routes=[Route("/videos/{video_id}", watch)],
        middleware=[
            Middleware(CloudFrontCookieMiddleware, **options(signer, rules=[], clock=clock))
        ],
    )
    fetch = serving(app)
    answer = fetch("/videos/7")
    values = assert_grants(
        answer.set_cookies, signer, f"{MEDIA}/videos/7/a", f"{MEDIA}/videos/8/a", now=clock.now
    )
    assert answer.cache_control == ["private"]
    assert values["CloudFront-Key-Pair-Id"] == KEY_ID
    assert not cloudfront_set_cookies(fetch("/videos/7?status=403").set_cookies)


def test_a_remote_signer_signs_off_the_event_loop(serving: Callable[..., Fetch]) -> None:
    assert_signs_off_the_loop(lambda **config: serving(contract_app(**config)))


def misuse_app(route_class: type[Any], *, middleware: bool = True) -> FastAPI:
    app = FastAPI()
    app.router.route_class = route_class

    @app.get("/videos/{video_id}", dependencies=[Depends(grant(VIDEOS))])
    def videos(video_id: str) -> dict[str, str]:
        return {"video": video_id}

    @app.get("/named/{name}", dependencies=[Depends(grant(VIDEOS))])
    def named(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/injected/{video_id}")
    def injected(video_id: str, request: Request, response: Response) -> dict[str, str]:
        grant_response(response, VIDEOS, request=request)
        return {"video": video_id}

    if middleware:
        app.add_middleware(CloudFrontCookieMiddleware, **options(make_signer(), rules=[]))
    return app


@pytest.mark.parametrize(
    ("route_class", "middleware", "path", "match"),
    [
        (Any, True, "/videos/1", "this route is not a GrantRoute, .*; create its router with"),
        (Any, True, "/injected/1", "this Response has no status yet; make the route a GrantRoute"),
        (
            GrantRoute,
            False,
            "/videos/1",
            "no CloudFrontCookieMiddleware served this request, .*; add it to the app",
        ),
        (
            GrantRoute,
            True,
            "/named/1",
            r"video_id is not among the view's URL parameters \(\['name'\]\)",
        ),
    ],
    ids=["not-a-grant-route", "injected-response", "no-middleware", "template-name"],
)
def test_misuse_is_an_error_naming_the_fix(
    serving: Callable[..., Fetch], route_class: Any, middleware: bool, path: str, match: str
) -> None:
    from fastapi.routing import APIRoute

    app = misuse_app(APIRoute if route_class is Any else route_class, middleware=middleware)
    fetch = serving(app, raise_server_exceptions=True)
    with pytest.raises(ConfigurationError, match=match):
        fetch(path)


# ---- where a grant finds the middleware: the scope, however the app is put together -----------
async def album(request: Request) -> Response:
    """A Starlette view granting on its own response."""
    response = PlainTextResponse("an album")
    grant_response(response, VIDEOS, request=request)
    return response


def wrapped_starlette(config: dict[str, Any]) -> ASGIApp:
    return CloudFrontCookieMiddleware(
        Starlette(routes=[Route("/videos/{video_id}", album)]), **config
    )


def bare_router(config: dict[str, Any]) -> ASGIApp:
    return CloudFrontCookieMiddleware(Router(routes=[Route("/videos/{video_id}", album)]), **config)


def mounted_starlette(config: dict[str, Any]) -> ASGIApp:
    sub = Starlette(routes=[Route("/{video_id}", album)])
    return Starlette(
        routes=[Mount("/videos", app=sub)],
        middleware=[Middleware(CloudFrontCookieMiddleware, **config)],
    )


def mounted_fastapi(config: dict[str, Any]) -> ASGIApp:
    sub = FastAPI()
    sub.router.route_class = GrantRoute

    @sub.get("/{video_id}", dependencies=[Depends(grant(VIDEOS))])
    def watch(video_id: str) -> dict[str, str]:
        return {"video": video_id}

    parent = FastAPI()
    parent.mount("/videos", sub)
    parent.add_middleware(CloudFrontCookieMiddleware, **config)
    return parent


@pytest.mark.parametrize(
    "build",
    [wrapped_starlette, bare_router, mounted_starlette, mounted_fastapi],
    ids=["wrapped", "bare-router", "mounted-starlette", "mounted-fastapi"],
)
def test_a_grant_finds_the_middleware_that_serves_the_request(
    serving: Callable[..., Fetch], build: Callable[[dict[str, Any]], ASGIApp]
) -> None:
    signer, clock = make_signer(), Clock()
    fetch = serving(build(options(signer, rules=[], clock=clock)), raise_server_exceptions=True)
    answer = fetch("/videos/7")
    assert answer.status == 200
    assert_grants(
        answer.set_cookies, signer, f"{MEDIA}/videos/7/a", f"{MEDIA}/videos/8/a", now=clock.now
    )


# ---- checked at startup: the app's first call walks its routes' dependencies ------------------
def test_a_fresh_worker_s_logout_clears_the_grants_cookie_paths(
    serving: Callable[..., Fetch],
) -> None:
    """Before any request to the granting route, which is behind a mounted sub-app."""
    sub = FastAPI()
    sub.router.route_class = GrantRoute

    @sub.get("/{user_id}", dependencies=[Depends(grant(LIBRARY, cookie_path="/users/"))])
    def shelf(user_id: str) -> dict[str, str]:
        return {"library": user_id}

    app = FastAPI()
    app.mount("/library", sub)

    @app.post("/logout")
    def logout() -> dict[str, str]:
        return {"bye": "yes"}

    app.add_middleware(
        CloudFrontCookieMiddleware, **options(make_signer(), rules=[], clear_on="/logout")
    )
    cleared = serving(app)("/logout", method="POST").set_cookies
    paths = {parse_set_cookie(value).attributes["path"] for value in cleared}
    assert paths == {"/", "/users/"}


def test_a_bad_grant_is_logged_when_the_app_starts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="cfcookie_middleware")
    router = APIRouter(route_class=GrantRoute, prefix="/api")

    @router.get("/elsewhere", dependencies=[Depends(grant("https://media.example.org/a/*"))])
    def elsewhere() -> None: ...

    @router.get("/named/{name}", dependencies=[Depends(grant(VIDEOS))])
    def named(name: str) -> None: ...

    plain = APIRouter()

    @plain.get("/plain/{video_id}", dependencies=[Depends(grant(VIDEOS))])
    def not_a_grant_route(video_id: str) -> None: ...

    @router.get("/fine/{video_id}", dependencies=[Depends(grant(VIDEOS))])
    def fine(video_id: str) -> None: ...

    app = FastAPI()
    app.include_router(router)
    app.include_router(plain)
    app.add_middleware(CloudFrontCookieMiddleware, **options(make_signer(), rules=[]))
    with TestClient(app, base_url=BASE_URL):  # the lifespan startup: no request yet
        errors = [r.getMessage() for r in caplog.records if r.name == "cfcookie_middleware.grants"]
    assert len(errors) == 3, errors
    by_route = {message.split("'")[1]: message for message in errors}
    assert "does not cover media.example.org" in by_route["/api/elsewhere"]
    assert "video_id is not among its path parameters (['name'])" in by_route["/api/named/{name}"]
    assert "it is not a GrantRoute" in by_route["/plain/{video_id}"]
    assert all("fails on its requests" in message for message in errors)
