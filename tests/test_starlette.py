"""The pure ASGI adapter: through Starlette's and FastAPI's ``add_middleware`` and test client,
at the raw protocol level (a recording ``send`` and a scripted ``receive``), and behind a real
uvicorn server to show streamed bodies are not held back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgiref.wsgi import WsgiToAsgi
from conftest import gated_first_visit, import_error_without, running_uvicorn
from fastapi import FastAPI, HTTPException
from fastapi import Response as FastAPIResponse
from middleware_helpers import (
    APP_HOST,
    BAD_CONFIGS,
    BASE_URL,
    CANNED_SET,
    CLOUDFRONT_NAMES,
    CUSTOM_SET,
    GARBAGE_KINDS,
    KEY_ID,
    MEDIA,
    T0,
    BadConfig,
    Clock,
    GatedBackend,
    asgi_scope,
    assert_grants,
    cloudfront_set_cookies,
    garbage_cookie_headers,
    header_values,
    make_signer,
    options,
    policy_expiry,
    verifier_for,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Host, Mount, Route, Router
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cfcookie_middleware.asgi import CloudFrontCookieMiddleware
from cfcookie_middleware.core import REMOTE_SIGNATURES
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import ConfigurationError, Signer

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).parent.parent
APP_HEADERS = {"X-Custom": "kept as is", "Cache-Control": "public, max-age=60, s-maxage=600"}


# ---- a Starlette app -------------------------------------------------------------------------
async def page(request: Request) -> Response:
    """Answers ``?status=`` (200 by default) with its own cookie and headers."""
    status = int(request.query_params.get("status", "200"))
    response = PlainTextResponse(
        f"page {request.url.path}",
        status_code=status,
        headers={**APP_HEADERS, "Vary": "Accept-Encoding"},
    )
    response.set_cookie("session", "abc123", httponly=True)
    return response


ROUTES = [
    Route(path, page)
    for path in ("/videos/{rest:path}", "/users/{user_id}/library", "/poster", "/logout", "/public")
]


def starlette_app(signer: Signer, **overrides: Any) -> Starlette:
    app = Starlette(routes=ROUTES)
    app.add_middleware(CloudFrontCookieMiddleware, **options(signer, **overrides))
    return app


def client(app: ASGIApp, **kwargs: Any) -> TestClient:
    return TestClient(app, base_url=BASE_URL, **kwargs)


def without_cache_headers(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n.lower(), v) for n, v in items if n.lower() not in ("cache-control", "vary")]


def test_add_middleware_appends_cookies_and_keeps_the_apps_headers() -> None:
    signer = make_signer()
    bare = client(Starlette(routes=ROUTES)).get("/videos/a.mp4").headers.multi_items()
    with client(starlette_app(signer)) as test_client:
        sent = test_client.get("/videos/a.mp4").headers.multi_items()
    app_part, added = sent[: len(bare)], sent[len(bare) :]
    # Everything the app sent (its own Set-Cookie included), in order, except the two cache
    # headers the middleware rewrites; then the CloudFront cookies, appended.
    assert without_cache_headers(app_part) == without_cache_headers(bare)
    added_cookies = [v for n, v in without_cache_headers(added) if n == "set-cookie"]
    assert len(added_cookies) == len(without_cache_headers(added))
    assert_grants(added_cookies, signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a.jpg")
    assert header_values(sent, "Cache-Control") == ["private, max-age=60"]
    assert header_values(sent, "Vary") == ["Accept-Encoding, Cookie"]


def test_headers_given_as_a_one_shot_iterable_still_reach_the_app() -> None:
    """Falcon's ASGI test client sends ``scope["headers"]`` as a generator: read once by the
    middleware, it must still reach the app whole (as Starlette's own ``Headers`` does)."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(list(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    signer = make_signer()
    scope = asgi_scope("/videos/a.mp4", headers=[(b"x-app", b"kept")])
    sent_headers = list(scope["headers"])
    scope["headers"] = (iter(pair) for pair in sent_headers)  # as Falcon's test client does
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(CloudFrontCookieMiddleware(app, **options(signer))(scope, receive, send))
    assert [list(map(tuple, headers)) for headers in seen] == [sent_headers]
    granted = [v.decode() for n, v in messages[0]["headers"] if n == b"set-cookie"]
    assert_grants(granted, signer, f"{MEDIA}/videos/a.mp4", None)


def test_app_may_be_passed_by_keyword_as_starlette_040_does() -> None:
    """Starlette 0.40 builds each middleware as ``cls(app=app, **options)`` (Litestar too)."""
    signer = make_signer()
    app = CloudFrontCookieMiddleware(app=Starlette(routes=ROUTES), **options(signer))
    with client(app) as test_client:
        sent = test_client.get("/videos/a.mp4").headers.get_list("set-cookie")
    assert_grants(sent, signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a.jpg")


@pytest.mark.parametrize(
    ("url", "issued"),
    [
        ("/videos/a.mp4", True),
        ("/videos/a.mp4?status=201", True),
        ("/videos/a.mp4?status=302", False),
        ("/videos/a.mp4?status=403", False),
        ("/videos/a.mp4?status=404", False),
        ("/videos/a.mp4?status=500", False),
        ("/public", False),
        ("/nowhere", False),  # Starlette's own 404
    ],
)
def test_cookies_only_on_2xx_of_matching_routes(url: str, issued: bool) -> None:
    response = client(starlette_app(make_signer())).get(url)
    cookies = cloudfront_set_cookies(response.headers.get_list("set-cookie"))
    assert bool(cookies) is issued


def test_exact_url_resource_gets_canned_cookies() -> None:
    signer = make_signer()
    response = client(starlette_app(signer)).get("/poster")
    assert_grants(
        response.headers.get_list("set-cookie"),
        signer,
        f"{MEDIA}/poster.jpg",
        f"{MEDIA}/poster.png",
        expected_names=CANNED_SET,
    )


def test_a_returning_visitor_gets_nothing_until_near_expiry() -> None:
    """The test client's jar sends the cookies back as a browser would."""
    signer, clock = make_signer(), Clock()
    with client(starlette_app(signer, clock=clock)) as test_client:
        first = test_client.get("/videos/a.mp4").headers.get_list("set-cookie")
        assert_grants(first, signer, f"{MEDIA}/videos/a.mp4", None, now=clock.now)
        clock.now = T0 + 6 * 60
        again = test_client.get("/videos/b.mp4")
        assert not cloudfront_set_cookies(again.headers.get_list("set-cookie"))
        assert header_values(again.headers.multi_items(), "Cache-Control") == [
            APP_HEADERS["Cache-Control"]
        ]
        clock.now = T0 + 35 * 60  # 25 min left, under the default margin of half the ttl
        refreshed = test_client.get("/videos/c.mp4").headers.get_list("set-cookie")
        values = assert_grants(refreshed, signer, f"{MEDIA}/videos/c.mp4", None, now=clock.now)
        assert policy_expiry(values) == T0 + 35 * 60 + 3600
        # Alice's cookies do not cover bob's library: a fresh set for bob.
        bob = test_client.get("/users/bob/library").headers.get_list("set-cookie")
        assert_grants(
            bob, signer, f"{MEDIA}/users/bob/a.mp3", f"{MEDIA}/videos/a.mp4", now=clock.now
        )
    assert signer.calls == 3


@pytest.mark.parametrize(
    ("url", "inside", "outside"),
    [
        ("/users/alice/library", "users/alice/a.mp3", "users/bob/a.mp3"),
        ("/users/%2A/library", "users/%2A/a.mp3", "users/alice/a.mp3"),
        ("/users/%3F/library", "users/%3F/a.mp3", "users/x/a.mp3"),
        ("/users/caf%C3%A9/library", "users/caf%C3%A9/a.mp3", "users/cafe/a.mp3"),
    ],
)
def test_each_user_gets_a_policy_for_their_own_prefix(url: str, inside: str, outside: str) -> None:
    """The server decodes ``%2A`` to ``*`` in the ASGI path; the resource template encodes it
    again, so a user named ``*`` cannot get a policy for every library."""
    signer = make_signer()
    response = client(starlette_app(signer)).get(url)
    assert_grants(
        response.headers.get_list("set-cookie"), signer, f"{MEDIA}/{inside}", f"{MEDIA}/{outside}"
    )


def test_when_decides_and_sees_the_scope() -> None:
    seen: list[RequestView] = []

    def members_only(view: RequestView) -> bool:
        seen.append(view)
        return view.cookies.get("member") == "yes"

    signer = make_signer()
    test_client = client(starlette_app(signer, when=members_only))
    test_client.cookies.set("member", "no")
    refused = test_client.get("/users/alice/library")
    assert not cloudfront_set_cookies(refused.headers.get_list("set-cookie"))
    test_client.cookies.set("member", "yes")
    allowed = test_client.get("/users/alice/library", headers={"X-Trace": "t-1"})
    assert_grants(allowed.headers.get_list("set-cookie"), signer, f"{MEDIA}/users/alice/x", None)
    view = seen[-1]
    assert (view.method, view.scheme, view.host, view.path) == (
        "GET",
        "https",
        APP_HOST,
        "/users/alice/library",
    )
    assert view.params == {"user_id": "alice"}
    assert view.headers["x-trace"] == "t-1"
    assert view.native["type"] == "http"
    assert view.native["path"] == "/users/alice/library"


@pytest.mark.parametrize(("status", "cleared"), [(200, True), (303, True), (401, False)])
def test_clear_on_expires_every_cloudfront_cookie(status: int, cleared: bool) -> None:
    response = client(starlette_app(make_signer(), clear_on="/logout")).get(
        f"/logout?status={status}", follow_redirects=False
    )
    cookies = cloudfront_set_cookies(response.headers.get_list("set-cookie"))
    assert set(cookies) == (set(CLOUDFRONT_NAMES) if cleared else set())
    for cookie in cookies.values():
        assert cookie.value == ""
        assert (cookie.attributes["max-age"], cookie.attributes["domain"]) == ("0", ".example.com")
        assert cookie.attributes["path"] == "/"


def test_a_host_outside_the_cookie_domain_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    test_client = TestClient(starlette_app(make_signer()), base_url="https://app.example.org")
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for i in range(10):
            response = test_client.get(f"/videos/{i}.mp4")
            assert cloudfront_set_cookies(response.headers.get_list("set-cookie"))
            test_client.cookies.clear()
    warned = [r for r in caplog.records if "not inside cookie_domain" in r.getMessage()]
    assert len(warned) == 1, caplog.text


# ---- mount points -----------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/api/videos/a.mp4", "/videos/a.mp4"])
def test_root_path_with_and_without_the_prefix_in_path(url: str) -> None:
    """Servers differ on whether ``path`` includes ``root_path``; Starlette routes both."""
    signer = make_signer()
    response = client(starlette_app(signer), root_path="/api").get(url)
    assert response.status_code == 200
    assert_grants(response.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a", None)


def test_an_app_mounted_under_a_prefix() -> None:
    signer = make_signer()
    site = Starlette(routes=[Mount("/media-app", app=starlette_app(signer))])
    test_client = client(site)
    inside = test_client.get("/media-app/videos/a.mp4")
    assert_grants(inside.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a", None)
    assert not cloudfront_set_cookies(
        test_client.get("/media-app/public").headers.get_list("set-cookie")
    )


# ---- raw ASGI ---------------------------------------------------------------------------------
def http_scope(path: str, *, root_path: str = "", cookie: bytes | None = None) -> Scope:
    headers = [(b"user-agent", b"raw-asgi-test")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return asgi_scope(path, root_path=root_path, headers=headers)


def scripted_receive(*messages: Message) -> Receive:
    """Hands out ``messages`` in order, then ``http.disconnect`` as a server would."""
    script = list(messages)

    async def receive() -> Message:
        return script.pop(0) if script else {"type": "http.disconnect"}

    return receive


class Recorder:
    """A recording ``send``."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def start(self) -> Message:
        (start,) = [m for m in self.messages if m["type"] == "http.response.start"]
        return start

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.start["headers"]]

    @property
    def set_cookies(self) -> list[str]:
        return header_values(self.headers, "set-cookie")


def replying(*messages: Message) -> ASGIApp:
    """An ASGI app that reads the request, then sends ``messages`` as they are."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.request"
        for message in messages:
            await send(message)

    return app


def call(app: ASGIApp, scope: Scope) -> Recorder:
    recorder = Recorder()
    receive = scripted_receive({"type": "http.request", "body": b"", "more_body": False})

    async def run() -> None:
        await app(scope, receive, recorder)

    asyncio.run(run())
    return recorder


START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"session=abc"), (b"x-a", b"1")],
}


def test_the_send_it_hands_on_is_a_coroutine_function() -> None:
    """Apps may check the ``send`` they get: asgiref's ``WsgiToAsgi`` (a WSGI app under an ASGI
    server) wraps it in ``AsyncToSync``, which warns (an error in this suite) about any callable
    not marked as a coroutine function."""

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    signer = make_signer()
    middleware = CloudFrontCookieMiddleware(WsgiToAsgi(wsgi_app), **options(signer))
    sent = call(middleware, http_scope("/videos/a.mp4"))
    assert sent.start["status"] == 200
    assert_grants(sent.set_cookies, signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a.mp4")


def test_only_the_response_start_is_touched() -> None:
    signer = make_signer()
    body = {"type": "http.response.body", "body": b"one", "more_body": True}
    last = {"type": "http.response.body", "body": b"two", "more_body": False}
    middleware = CloudFrontCookieMiddleware(replying(START, body, last), **options(signer))
    sent = call(middleware, http_scope("/videos/a.mp4"))
    assert sent.messages[1] is body
    assert sent.messages[2] is last
    assert sent.start["status"] == 200
    assert sent.start["headers"][:3] == START["headers"]
    assert_grants(sent.set_cookies, signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a.mp4")
    assert header_values(sent.headers, "cache-control") == ["private"]


def test_a_returning_visitor_is_passed_on_unwrapped() -> None:
    """A request already holding a current set can earn nothing whatever the response, so the
    app gets the server's own send; a first visit gets the middleware's."""
    signer = make_signer()
    seen: list[Send] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(send)
        await replying(START)(scope, receive, send)

    middleware = CloudFrontCookieMiddleware(app, **options(signer))
    first = call(middleware, http_scope("/videos/a.mp4"))
    held = {n: c.value for n, c in cloudfront_set_cookies(first.set_cookies).items()}
    cookie = "; ".join(f"{n}={v}" for n, v in held.items()).encode()
    again = call(middleware, http_scope("/videos/b.mp4", cookie=cookie))
    assert seen[0] is not first
    assert seen[1] is again
    assert again.start["headers"] == START["headers"]


def test_a_start_message_without_headers_or_with_tuples() -> None:
    """ASGI makes ``headers`` optional and any iterable of pairs."""
    signer = make_signer()
    bare_start: Message = {"type": "http.response.start", "status": 200}
    tuple_start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": ((b"content-type", b"text/plain"), (b"x-a", b"1")),
    }
    for start in (bare_start, tuple_start):
        body = {"type": "http.response.body", "body": b"x"}
        sent = call(
            CloudFrontCookieMiddleware(replying(start, body), **options(signer)),
            http_scope("/videos/a.mp4"),
        )
        assert_grants(sent.set_cookies, signer, f"{MEDIA}/videos/a.mp4", None)
        kept = [tuple(pair) for pair in sent.start["headers"]][: len(start.get("headers", ()))]
        assert kept == list(start.get("headers", ()))


def test_header_names_sent_are_lowercase() -> None:
    """ASGI HTTP spec, ``http.response.start``: "Header names must be lowercased" (HTTP/2
    servers may refuse others); the core renders them capitalized for WSGI."""
    middleware = CloudFrontCookieMiddleware(
        replying(START, {"type": "http.response.body"}), **options(make_signer())
    )
    names = [name for name, _ in call(middleware, http_scope("/videos/a.mp4")).start["headers"]]
    assert names == [name.lower() for name in names]


def test_non_matching_requests_and_other_scopes_pass_through_untouched() -> None:
    """The inner app gets the very scope, receive and send objects: nothing is wrapped."""
    received: list[tuple[Scope, Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        received.append((scope, receive, send))

    middleware = CloudFrontCookieMiddleware(inner, **options(make_signer()))
    scopes = [
        {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
        {**http_scope("/videos/a.mp4"), "type": "websocket", "scheme": "wss"},
        http_scope("/public"),
    ]
    for scope in scopes:
        receive, send = scripted_receive(), Recorder()
        asyncio.run(middleware(scope, receive, send))
        assert received[-1][0] is scope
        assert received[-1][1] is receive
        assert received[-1][2] is send


@pytest.mark.parametrize(
    ("path", "root_path", "issued"),
    [
        ("/api/videos/a.mp4", "/api", True),  # path includes root_path (Starlette, uvicorn)
        ("/videos/a.mp4", "/api", True),  # path below root_path (older servers)
        ("/api/videos/a.mp4", "", False),
        ("/apivideos/a.mp4", "/api", False),  # '/api' is not a segment of '/apivideos'
        ("/api", "/api", False),
        # Never looser than the router: paths a proxy or framework may resolve match nothing.
        ("/public/../videos/a.mp4", "", False),
        ("/api/public/../videos/a.mp4", "/api", False),
        ("/videos//a.mp4", "", False),
    ],
)
def test_root_path_raw(path: str, root_path: str, issued: bool) -> None:
    middleware = CloudFrontCookieMiddleware(
        replying(START, {"type": "http.response.body"}), **options(make_signer())
    )
    sent = call(middleware, http_scope(path, root_path=root_path))
    assert bool(cloudfront_set_cookies(sent.set_cookies)) is issued


@pytest.mark.parametrize("kind", [*GARBAGE_KINDS, "latin-1-bytes"])
def test_unusable_cloudfront_cookies_are_replaced(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    signer = make_signer()
    middleware = CloudFrontCookieMiddleware(
        replying(START, {"type": "http.response.body"}), **options(signer)
    )
    held = cloudfront_set_cookies(call(middleware, http_scope("/videos/a.mp4")).set_cookies)
    headers = garbage_cookie_headers({name: cookie.value for name, cookie in held.items()})
    headers["latin-1-bytes"] = "CloudFront-Policy=\xe9\xff\x00; CloudFront-\xc3=1"
    cookie = headers[kind].encode("latin-1")
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        sent = call(middleware, http_scope("/users/alice/library", cookie=cookie))
    assert_grants(sent.set_cookies, signer, f"{MEDIA}/users/alice/a.mp3", None)
    assert not caplog.records


def test_many_tasks_at_once_share_few_signatures() -> None:
    """200 concurrent requests on one event loop all get cookies that verify; the signature
    is made once per resource, not once per request."""
    signer, clock = make_signer(), Clock()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0)  # let the other requests interleave
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = CloudFrontCookieMiddleware(app, **options(signer, clock=clock))
    users = ["alice", "bob", "carol", "dave"]

    async def one(i: int) -> Recorder:
        recorder = Recorder()
        scope = http_scope(f"/users/{users[i % 4]}/library")
        await middleware(scope, scripted_receive(), recorder)
        return recorder

    async def all_of_them() -> list[Recorder]:
        return await asyncio.gather(*(one(i) for i in range(200)))

    for i, recorder in enumerate(asyncio.run(all_of_them())):
        user = users[i % 4]
        assert_grants(
            recorder.set_cookies,
            signer,
            f"{MEDIA}/users/{user}/a.mp3",
            f"{MEDIA}/users/{users[(i + 1) % 4]}/a.mp3",
            now=clock.now,
        )
    assert signer.calls == len(users)  # one event loop: no two requests race to sign


def test_an_async_when_is_refused_at_build() -> None:
    """FastAPI users write async predicates; the coroutine an ``async def`` returns is always
    true, so one taken as is would hand cookies to everyone."""

    async def nobody(view: RequestView) -> bool:
        return False

    inner = replying(START, {"type": "http.response.body"})
    with pytest.raises(ConfigurationError, match=r"when: .*not async"):
        CloudFrontCookieMiddleware(inner, **options(make_signer(), when=nobody))


def test_a_when_returning_an_awaitable_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    """An object with an async ``__call__`` passes the build check; its answer is refused (and
    the coroutine closed: an unawaited one would warn, an error here)."""

    class Nobody:
        async def __call__(self, view: RequestView) -> bool:
            return False

    middleware = CloudFrontCookieMiddleware(
        replying(START, {"type": "http.response.body"}), **options(make_signer(), when=Nobody())
    )
    with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
        sent = call(middleware, http_scope("/videos/a.mp4"))
    assert sent.headers == [(n.decode(), v.decode()) for n, v in START["headers"]]
    assert "awaitable" in caplog.text


# ---- a real server: streaming is not held back ---------------------------------------------
@pytest.fixture
def streaming_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """uvicorn on a free loopback port, serving an app that sends one chunk, then waits for
    the test to say it has received it before sending the second."""
    state: dict[str, Any] = {"timed_out": False}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        loop, received_first = asyncio.get_running_loop(), asyncio.Event()
        state["release"] = lambda: loop.call_soon_threadsafe(received_first.set)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first chunk", "more_body": True})
        try:
            await asyncio.wait_for(received_first.wait(), 5)
        except asyncio.TimeoutError:
            state["timed_out"] = True
        await send({"type": "http.response.body", "body": b"second chunk"})

    state["signer"] = make_signer()
    middleware = CloudFrontCookieMiddleware(app, **options(state["signer"]))
    with running_uvicorn(middleware) as port:
        yield f"http://127.0.0.1:{port}", state


def test_streamed_body_reaches_the_client_chunk_by_chunk(
    streaming_server: tuple[str, dict[str, Any]],
) -> None:
    url, state = streaming_server
    with (
        httpx2.Client(timeout=10) as http,
        http.stream("GET", f"{url}/videos/live.m3u8", headers={"Host": APP_HOST}) as response,
    ):
        assert_grants(
            response.headers.get_list("set-cookie"), state["signer"], f"{MEDIA}/videos/a", None
        )
        chunks = response.iter_raw()
        assert next(chunks) == b"first chunk"  # arrived while the app still waits
        state["release"]()
        assert b"".join(chunks) == b"second chunk"
    assert not state["timed_out"], "the first chunk was held back until the app finished"


# ---- FastAPI ----------------------------------------------------------------------------------
def fastapi_app(signer: Signer) -> FastAPI:
    api = FastAPI()

    @api.get("/videos/{name}")
    def video(name: str, response: FastAPIResponse) -> dict[str, str]:
        response.set_cookie("session", "abc123")
        response.headers["X-Custom"] = "kept as is"
        return {"video": name}

    @api.get("/users/{user_id}/library")
    async def library(user_id: str) -> dict[str, str]:
        if user_id == "mallory":
            raise HTTPException(status_code=403)
        return {"user": user_id}

    api.add_middleware(CloudFrontCookieMiddleware, **options(signer))
    return api


def test_fastapi_add_middleware() -> None:
    signer = make_signer()
    with client(fastapi_app(signer)) as test_client:
        response = test_client.get("/videos/a.mp4")
        assert response.json() == {"video": "a.mp4"}
        assert response.headers["x-custom"] == "kept as is"
        set_cookies = response.headers.get_list("set-cookie")
        assert set_cookies[0].startswith("session=abc123;")
        assert_grants(set_cookies, signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/users/a/b")
        alice = test_client.get("/users/alice/library").headers.get_list("set-cookie")
        assert_grants(alice, signer, f"{MEDIA}/users/alice/x", f"{MEDIA}/users/bob/x")
        test_client.cookies.clear()
        refused = test_client.get("/users/mallory/library")
        assert refused.status_code == 403
        assert refused.headers.get_list("set-cookie") == []


# ---- build time -------------------------------------------------------------------------------
async def start_lifespan(app: ASGIApp) -> list[Message]:
    """What a server such as uvicorn does first: the lifespan scope's startup (done by hand, as
    Starlette's TestClient before 1.0 leaks its streams when the startup fails)."""
    sent: list[Message] = []
    incoming = [{"type": "lifespan.startup"}]

    async def receive() -> Message:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # no shutdown: the test ends here
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"].startswith("lifespan.startup."):
            raise _Started

    with contextlib.suppress(_Started):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


class _Started(Exception):
    """Ends the lifespan task once the app has answered the startup."""


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda case: case.id)
def test_configuration_errors_surface_when_the_app_starts(case: BadConfig) -> None:
    """Starlette's ``add_middleware`` only records the class and its options; the middleware
    stack is built on the app's first ASGI call, which under a server (and under ``with
    TestClient(app)``) is the lifespan startup. So a bad option fails the start, before any
    request is served; building the middleware by hand fails at once."""
    signer = make_signer()
    if case.stage == "rule":
        with pytest.raises(ConfigurationError, match=case.match):
            case.make(signer)  # the Rule itself refuses
        return
    app = Starlette(routes=ROUTES)
    app.add_middleware(CloudFrontCookieMiddleware, **case.make(signer))  # recorded, not built
    with pytest.raises(ConfigurationError, match=case.match):
        asyncio.run(start_lifespan(app))
    with pytest.raises(ConfigurationError, match=case.match):
        CloudFrontCookieMiddleware(app, **case.make(signer))


def test_importing_without_anyio_names_the_extra() -> None:
    message = import_error_without("cfcookie_middleware.asgi", "anyio")
    assert 'pip install "cfcookie-middleware[asgi]"' in message


# ---- methods, CORS preflights and hosts ------------------------------------------------------
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def any_method_app(signer: Signer, **overrides: Any) -> Starlette:
    """A route that answers every method itself, so only the middleware's gate decides."""
    app = Starlette(routes=[Route("/videos/{rest:path}", page, methods=EVERY_METHOD)])
    app.add_middleware(CloudFrontCookieMiddleware, **options(signer, **overrides))
    return app


@pytest.mark.parametrize("method", [m for m in EVERY_METHOD if m != "GET"])
def test_only_get_earns_cookies_by_default(method: str) -> None:
    test_client = client(any_method_app(make_signer()))
    response = test_client.request(method, "/videos/a.mp4")
    assert response.status_code == 200  # the view ran and answered
    assert not cloudfront_set_cookies(response.headers.get_list("set-cookie"))
    get = test_client.get("/videos/a.mp4")
    assert cloudfront_set_cookies(get.headers.get_list("set-cookie"))


def test_methods_widens_the_set_but_a_405_still_earns_nothing() -> None:
    signer = make_signer()
    widened = any_method_app(signer, methods=["get", "POST"])
    put = client(widened).put("/videos/a.mp4")
    assert not cloudfront_set_cookies(put.headers.get_list("set-cookie"))
    posted = client(widened).post("/videos/a.mp4")
    assert_grants(posted.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a", None)
    get_only = client(starlette_app(signer, methods=["GET", "POST"]))
    refused = get_only.post("/videos/a.mp4")
    assert refused.status_code == 405  # Starlette's answer: the view never ran
    assert not cloudfront_set_cookies(refused.headers.get_list("set-cookie"))


def test_a_cors_preflight_answered_inside_earns_nothing() -> None:
    """CORSMiddleware inside the cookie middleware answers a preflight (200) before routing,
    so no view checked anything: an anonymous client must get no cookies from it."""
    signer = make_signer()
    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(CloudFrontCookieMiddleware, **options(signer, methods=["GET", "HEAD"])),
            Middleware(
                CORSMiddleware,
                allow_origins=["https://www.example.com"],
                allow_methods=["GET", "POST"],
                allow_credentials=True,
            ),
        ],
    )
    cors = {"Origin": "https://www.example.com"}
    preflight = client(app).options(
        "/videos/a.mp4", headers={**cors, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://www.example.com"
    assert not cloudfront_set_cookies(preflight.headers.get_list("set-cookie"))
    simple = client(app).get("/videos/a.mp4", headers=cors)  # the view runs: cookies
    assert_grants(simple.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a", None)


async def members_only(request: Request) -> Response:
    if request.cookies.get("member") != "yes":
        return PlainTextResponse("members only", status_code=403)
    return PlainTextResponse("the videos")


async def status_page(request: Request) -> Response:
    return PlainTextResponse("all systems go")


def host_routed_app(signer: Signer, rule: Rule) -> Starlette:
    """The www host serves members their videos; the status host answers any path, publicly."""
    app = Starlette(
        routes=[
            Host("www.example.com", Router([Route("/videos", members_only)])),
            Host("status.example.com", Router([Route("/{anything:path}", status_page)])),
        ]
    )
    app.add_middleware(CloudFrontCookieMiddleware, **options(signer, rules=[rule]))
    return app


def test_a_rule_bound_to_a_host_grants_only_there() -> None:
    signer = make_signer()
    rule = Rule("/videos", resource=f"{MEDIA}/videos/*", host="www.example.com")
    app = host_routed_app(signer, rule)
    member = {"Cookie": "member=yes"}
    status = TestClient(app, base_url="https://status.example.com").get("/videos", headers=member)
    assert (status.status_code, status.text) == (200, "all systems go")
    assert not cloudfront_set_cookies(status.headers.get_list("set-cookie"))
    www = TestClient(app, base_url="https://www.example.com")
    assert not cloudfront_set_cookies(www.get("/videos").headers.get_list("set-cookie"))  # 403
    granted = www.get("/videos", headers=member)
    assert_grants(granted.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a", None)
    # Recent Starlette folds case and drops the port (so the view answers), older releases do
    # not (404); the rule compares the Host exactly, never looser than the router (browsers
    # send it lower case, without a default port), so neither earns cookies.
    for odd in ("WWW.example.com", "www.example.com:443"):
        reply = www.get("/videos", headers={**member, "Host": odd})
        assert (reply.status_code, reply.text) in ((200, "the videos"), (404, "Not Found"))
        assert not cloudfront_set_cookies(reply.headers.get_list("set-cookie"))


def test_a_rule_without_a_host_grants_on_every_host() -> None:
    """What the host option is for: the path alone matches the status host's public page."""
    app = host_routed_app(make_signer(), Rule("/videos", resource=f"{MEDIA}/videos/*"))
    status = TestClient(app, base_url="https://status.example.com").get("/videos")
    assert cloudfront_set_cookies(status.headers.get_list("set-cookie"))


# ---- a slow signer ---------------------------------------------------------------------------
def test_a_slow_signer_never_blocks_the_event_loop() -> None:
    """A KMS-like backend whose signature is held at a gate: while it waits, a real uvicorn
    server still answers an unrelated request (it could not if the signature ran on the loop),
    then the waiting response goes out with a set CloudFront accepts."""
    backend = GatedBackend()
    signer = Signer(KEY_ID, backend)
    app = CloudFrontCookieMiddleware(Starlette(routes=ROUTES), **options(signer))  # built now
    visit = gated_first_visit(app, backend, "/public")
    assert visit.unrelated.status_code == 200
    assert visit.waited  # still at the gate
    assert backend.on_a_loop == 0
    assert_grants(
        visit.granted.headers.get_list("set-cookie"),
        signer,
        f"{MEDIA}/videos/a.mp4",
        None,
        expected_names={*CUSTOM_SET, "CloudFront-Hash-Algorithm"},
    )


def test_slow_signatures_run_a_few_at_a_time() -> None:
    """Twelve first visitors of twelve libraries at once: at most REMOTE_SIGNATURES signatures
    wait at the gate together, the rest wait without a thread; all get their own set."""
    backend = GatedBackend()
    signer = Signer(KEY_ID, backend)
    middleware = CloudFrontCookieMiddleware(Starlette(routes=ROUTES), **options(signer))
    backend.armed = True
    users = [f"user{n}" for n in range(12)]
    with running_uvicorn(middleware) as port, ThreadPoolExecutor(len(users)) as pool:
        base = f"http://127.0.0.1:{port}"
        replies = [
            pool.submit(httpx2.get, f"{base}/users/{user}/library", timeout=30) for user in users
        ]
        backend.wait_for(REMOTE_SIGNATURES)
        deadline = time.monotonic() + 10
        while middleware._signing.statistics().tasks_waiting < len(users) - REMOTE_SIGNATURES:
            assert time.monotonic() < deadline, middleware._signing.statistics()
            time.sleep(0.005)
        assert backend.in_flight == REMOTE_SIGNATURES
        backend.release.set()
        responses = [reply.result(30) for reply in replies]
    assert backend.peak == REMOTE_SIGNATURES
    for user, response in zip(users, responses, strict=True):
        cookies = cloudfront_set_cookies(response.headers.get_list("set-cookie"))
        values = {name: cookie.value for name, cookie in cookies.items()}
        assert verifier_for(signer).check_cookies(f"{MEDIA}/users/{user}/1.mp4", values).allowed
