"""Faults around the middleware: a signing backend that is down, a response that breaks while
streaming, a client that goes away, an app that fails after ``start_response``.

In every case the app's response, or its failure, reaches the server as it would without the
middleware: a signing failure costs the CloudFront cookies and one logged error, never the
response; an exception raised by the app or the server passes through untouched; and the
CloudFront cookies go out as a whole set or not at all.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.handlers import SimpleHandler
from wsgiref.util import setup_testing_defaults

import pytest
from flask import Flask
from middleware_helpers import (
    APP_HOST,
    BASE_URL,
    CUSTOM_SET,
    KEY_ID,
    VECTORS,
    asgi_scope,
    cloudfront_set_cookies,
    header_values,
    make_signer,
    options,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Scope
from uvicorn.protocols.utils import ClientDisconnected

from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as ASGIMiddleware
from cfcookie_middleware.cookies import MAX_COOKIE_BYTES
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.signing import (
    LocalKey,
    Policy,
    Signer,
    load_private_key,
)
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WSGIMiddleware

VIDEO_PATH = "/videos/a.mp4"
APP_HEADERS = [
    ("Content-Type", "text/plain"),
    ("X-App", "kept as is"),
    ("Set-Cookie", "session=abc123; Path=/; HttpOnly"),
]
BODY = (b"hello ", b"world")


# ---- signers that fail -----------------------------------------------------------------------
class DownSigner(Signer):
    """A signer whose key backend is unreachable: every policy fails as a network client does."""

    __slots__ = ()

    def sign_policy(self, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
        raise ConnectionError("key backend unreachable")


class SwitchableBackend:
    """A KMS-like ``SigningBackend`` that works when the middleware is built (its self-check
    signs once) and goes down later, when ``down`` is set."""

    def __init__(self) -> None:
        self._key = LocalKey(load_private_key(VECTORS / "test-rsa-key.pem"), "SHA1")
        self.down = False

    @property
    def hash_algorithm(self) -> str:
        return self._key.hash_algorithm

    def sign(self, message: bytes) -> bytes:
        if self.down:
            raise ConnectionError("KMS endpoint unreachable")
        return self._key.sign(message)

    def public_key(self) -> Any:
        return self._key.public_key()


def down_signer() -> tuple[Signer, Callable[[], None]]:
    """Down from the start (the build's self-check calls ``sign``, not ``sign_policy``)."""
    return DownSigner(KEY_ID, VECTORS / "test-rsa-key.pem"), lambda: None


def backend_gone_down() -> tuple[Signer, Callable[[], None]]:
    """Up for the build, then taken down by the returned callable."""
    backend = SwitchableBackend()
    return Signer(KEY_ID, backend), lambda: setattr(backend, "down", True)


FAILING_SIGNERS: dict[str, Callable[[], tuple[Signer, Callable[[], None]]]] = {
    "sign_policy-raises": down_signer,
    "backend-down-after-build": backend_gone_down,
}


# ---- one answer, three adapters --------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", list(APP_HEADERS))
    return list(BODY)


def call_wsgi(app: Any, path: str = VIDEO_PATH) -> Answer:
    """Play a WSGI server: read the body, then close it."""
    environ: dict[str, Any] = {"PATH_INFO": path, "HTTP_HOST": APP_HOST}
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    try:
        data = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    (status, headers), *_ = started
    return Answer(int(status[:3]), headers, data)


def flask_app(signer: Signer | None) -> Flask:
    app = Flask(__name__)

    @app.route("/videos/<path:name>")
    def video(name: str) -> Any:
        return b"".join(BODY), 200, APP_HEADERS

    if signer is not None:
        CloudFrontCookies(app, **options(signer))
    return app


def call_flask(app: Flask) -> Answer:
    response = app.test_client(use_cookies=False).get(VIDEO_PATH, base_url=BASE_URL)
    return Answer(response.status_code, list(response.headers.items()), response.data)


async def page(request: Request) -> Response:
    response = PlainTextResponse(b"".join(BODY), headers={"X-App": "kept as is"})
    response.set_cookie("session", "abc123", httponly=True)
    return response


def starlette_app(signer: Signer | None) -> Starlette:
    app = Starlette(routes=[Route("/videos/{name:path}", page)])
    if signer is not None:
        app.add_middleware(ASGIMiddleware, **options(signer))
    return app


def call_starlette(app: ASGIApp) -> Answer:
    client = TestClient(app, base_url=BASE_URL)
    response = client.get(VIDEO_PATH)
    return Answer(response.status_code, response.headers.multi_items(), response.content)


def built_wsgi(signer: Signer | None) -> Callable[[], Answer]:
    app = wsgi_app if signer is None else WSGIMiddleware(wsgi_app, **options(signer))
    return lambda: call_wsgi(app)


def built_flask(signer: Signer | None) -> Callable[[], Answer]:
    app = flask_app(signer)
    return lambda: call_flask(app)


def built_starlette(signer: Signer | None) -> Callable[[], Answer]:
    """The middleware around a Starlette app, built now (``add_middleware`` would build it on
    the first request, after the backend went down)."""
    app: ASGIApp = starlette_app(None)
    if signer is not None:
        app = ASGIMiddleware(app, **options(signer))
    return lambda: call_starlette(app)


ADAPTERS: dict[str, Callable[[Signer | None], Callable[[], Answer]]] = {
    "wsgi": built_wsgi,
    "flask": built_flask,
    "asgi": built_starlette,
}


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("failing", FAILING_SIGNERS)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_signer_that_is_down_costs_the_cookies_not_the_response(
    adapter: str, failing: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Status, headers and body exactly as without the middleware, and one error per request,
    naming the failure, from the middleware's logger."""
    without = ADAPTERS[adapter](None)()
    signer, take_down = FAILING_SIGNERS[failing]()
    send = ADAPTERS[adapter](signer)
    take_down()
    answers = [send() for _ in range(3)]
    for answer in answers:
        assert answer == without  # the app's own session cookie included
        assert cloudfront_set_cookies(header_values(answer.headers, "Set-Cookie")) == {}
    logged = errors(caplog)
    assert len(logged) == 3, [record.getMessage() for record in logged]
    for record in logged:
        assert record.name == "cfcookie_middleware"
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], ConnectionError)


def test_a_backend_that_comes_back_gets_the_whole_set_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure is not cached: the request after the backend recovers gets the full set."""
    backend = SwitchableBackend()
    middleware = WSGIMiddleware(wsgi_app, **options(Signer(KEY_ID, backend)))
    backend.down = True
    assert cloudfront_set_cookies(header_values(call_wsgi(middleware).headers, "Set-Cookie")) == {}
    backend.down = False
    issued = cloudfront_set_cookies(header_values(call_wsgi(middleware).headers, "Set-Cookie"))
    assert set(issued) == CUSTOM_SET
    assert len(errors(caplog)) == 1


# ---- all or nothing --------------------------------------------------------------------------
class CorruptSigner(Signer):
    """A backend that returns one field the middleware cannot send (or none at all)."""

    __slots__ = ("corrupt",)
    corrupt: tuple[str, str | None]

    def sign_policy(self, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
        fields = super().sign_policy(policy, prefix=prefix)
        name, value = self.corrupt
        if value is None:
            del fields[prefix + name]
        else:
            fields[prefix + name] = value
        return fields


CORRUPTIONS: dict[str, tuple[str, str | None]] = {
    # the Key-Pair-Id is rendered last: a half-done list would already hold Policy and Signature
    "key-pair-id-with-semicolon": ("Key-Pair-Id", "K2JCJMDEHXQW5F; Domain=evil.example"),
    "signature-with-space": ("Signature", "abc def"),
    "policy-not-ascii": ("Policy", "eyJTdGF0ZW1lbnQiOltdfQ\u00e9"),
    "signature-missing": ("Signature", None),
}


def corrupt_signer(corruption: str) -> CorruptSigner:
    signer = CorruptSigner(KEY_ID, VECTORS / "test-rsa-key.pem")
    signer.corrupt = CORRUPTIONS[corruption]
    return signer


async def asgi_app(scope: Scope, receive: Any, send: Any) -> None:
    headers = [(n.lower().encode(), v.encode()) for n, v in APP_HEADERS]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"".join(BODY)})


def http_scope(path: str = VIDEO_PATH) -> Scope:
    # 2.4: Starlette's streaming responses then do not poll receive() for a disconnect, which
    # the scripted receive() below never sends.
    return asgi_scope(path, spec_version="2.4")


@dataclass
class Run:
    """What an ASGI app sent before it returned or raised, and what it raised."""

    sent: list[Message]
    error: BaseException | None


def run_asgi(
    app: ASGIApp,
    path: str = VIDEO_PATH,
    receive_messages: Iterable[Message] = (),
    send_fails: Callable[[Message], BaseException | None] = lambda message: None,
) -> Run:
    """Play an ASGI server; ``send_fails`` may return the error the server's send raises."""
    sent: list[Message] = []
    incoming = iter(receive_messages)
    requested = False

    async def receive() -> Message:
        nonlocal requested
        message = next(incoming, None)
        if message is not None:
            return message
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        # As a server does once the body is in: the next message is the client leaving, so wait
        # (Starlette before 1.0 listens for it while streaming; an answer at once would spin).
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        error = send_fails(message)
        if error is not None:
            raise error
        sent.append(message)

    async def serve() -> None:
        await app(http_scope(path), receive, send)

    try:
        asyncio.run(serve())
    except Exception as error:
        return Run(sent, error)
    return Run(sent, None)


def start_headers(run: Run) -> list[tuple[str, str]]:
    start = run.sent[0]
    assert start["type"] == "http.response.start"
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", ())]


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_the_set_goes_out_whole_or_not_at_all(
    corruption: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = call_wsgi(WSGIMiddleware(wsgi_app, **options(corrupt_signer(corruption))))
    assert answer == call_wsgi(wsgi_app)
    run = run_asgi(ASGIMiddleware(asgi_app, **options(corrupt_signer(corruption))))
    assert run.error is None
    assert run.sent == run_asgi(asgi_app).sent
    assert len(errors(caplog)) == 2


def test_a_long_captured_value_never_makes_half_a_set() -> None:
    """RFC 6265 section 6.1: user agents need keep only 4096 bytes of a cookie (Chrome and
    Firefox drop a longer name=value), so a set with one oversized cookie arrives halved."""
    middleware = WSGIMiddleware(wsgi_app, **options(make_signer()))
    answer = call_wsgi(middleware, "/users/" + "a" * 5000 + "/library")
    cookies = cloudfront_set_cookies(header_values(answer.headers, "Set-Cookie"))
    assert set(cookies) in (set(), CUSTOM_SET)
    for cookie in cookies.values():
        assert len(f"{cookie.name}={cookie.value}") <= MAX_COOKIE_BYTES, cookie.name


# ---- a response that breaks while streaming ----------------------------------------------------
class StreamBroke(Exception):
    """The app's own failure halfway through its body (a storage read failing, say)."""


def breaking_asgi_app(raised: list[BaseException]) -> ASGIApp:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(n.lower().encode(), v.encode()) for n, v in APP_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY[0], "more_body": True})
        error = StreamBroke("storage read failed")
        raised.append(error)
        raise error

    return app


def breaking_starlette_app(raised: list[BaseException]) -> Starlette:
    async def chunks() -> AsyncIterator[bytes]:
        yield BODY[0]
        error = StreamBroke("storage read failed")
        raised.append(error)
        raise error

    async def stream(request: Request) -> Response:
        return StreamingResponse(chunks(), headers={"X-App": "kept as is"})

    return Starlette(routes=[Route("/{p:path}", stream)])


BREAKING_ASGI: dict[str, Callable[[list[BaseException]], ASGIApp]] = {
    "raw": breaking_asgi_app,
    "starlette-streaming": breaking_starlette_app,
}


def assert_same_apart_from_cookies(with_middleware: Run, without: Run) -> None:
    """The same messages, the start message only gaining the middleware's headers."""
    assert [m["type"] for m in with_middleware.sent] == [m["type"] for m in without.sent]
    assert with_middleware.sent[1:] == without.sent[1:]
    assert with_middleware.sent[0]["status"] == without.sent[0]["status"]
    added = start_headers(with_middleware)
    for header in start_headers(without):
        assert header in added or header[0] in ("cache-control", "vary")
    cookies = cloudfront_set_cookies(header_values(added, "set-cookie"))
    assert set(cookies) in (set(), CUSTOM_SET)


@pytest.mark.parametrize("path", [VIDEO_PATH, "/elsewhere"])
@pytest.mark.parametrize("kind", BREAKING_ASGI)
def test_an_asgi_body_that_breaks_halfway_passes_through(kind: str, path: str) -> None:
    """The app's exception propagates (the very object it raised) and the chunk already sent is
    the same; on a path no rule matches, every message is identical."""
    runs = []
    for wrap in (lambda app: app, lambda app: ASGIMiddleware(app, **options(make_signer()))):
        raised: list[BaseException] = []
        run = run_asgi(wrap(BREAKING_ASGI[kind](raised)), path)
        assert run.error is not None
        # Starlette before 1.0 raises it inside its task group's exception group, with or
        # without the middleware; the very object the app raised is there all the same.
        inner = getattr(run.error, "exceptions", (run.error,))
        assert len(inner) == 1
        assert inner[0] is raised[0]
        runs.append(run)
    without, with_middleware = runs
    assert [m.get("body") for m in without.sent[1:]] == [BODY[0]]
    if path == VIDEO_PATH:
        assert_same_apart_from_cookies(with_middleware, without)
        issued = cloudfront_set_cookies(header_values(start_headers(with_middleware), "set-cookie"))
        assert set(issued) == CUSTOM_SET
    else:
        assert with_middleware.sent == without.sent


class BreakingBody:
    """A WSGI body whose second chunk fails; it records its ``close()``."""

    def __init__(self) -> None:
        self.closed = False
        self.error = StreamBroke("storage read failed")

    def __iter__(self) -> Iterator[bytes]:
        yield BODY[0]
        raise self.error

    def close(self) -> None:
        self.closed = True


class Server:
    """A PEP 3333 server's side: ``start_response`` re-raises ``exc_info`` once headers are out,
    the body is iterated chunk by chunk and closed whatever happens."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []
        self.chunks: list[bytes] = []
        self.headers_sent = False
        self.error: BaseException | None = None
        self.body: Any = None

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.calls.append((status, headers, exc_info))
        if exc_info is not None and self.headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        return self.chunks.append

    def run(self, app: Any, path: str = VIDEO_PATH) -> Server:
        environ: dict[str, Any] = {"PATH_INFO": path, "HTTP_HOST": APP_HOST}
        setup_testing_defaults(environ)
        try:
            self.body = app(environ, self.start_response)
            try:
                for chunk in self.body:
                    self.headers_sent = True
                    self.chunks.append(chunk)
            finally:
                getattr(self.body, "close", lambda: None)()
        except StreamBroke as error:
            self.error = error
        return self


@pytest.mark.parametrize("path", [VIDEO_PATH, "/elsewhere"])
def test_a_wsgi_body_that_breaks_on_its_second_chunk_passes_through(path: str) -> None:
    statuses = []
    for wrap in (lambda app: app, lambda app: WSGIMiddleware(app, **options(make_signer()))):
        body = BreakingBody()

        def app(environ: dict[str, Any], start_response: Any, body: BreakingBody = body) -> Any:
            start_response("200 OK", list(APP_HEADERS))
            return body

        served = Server().run(wrap(app), path)
        assert served.body is body  # the app's own iterable, so the server reaches its close()
        assert served.error is body.error
        assert body.closed
        assert served.chunks == [BODY[0]]
        assert len(served.calls) == 1
        statuses.append(served.calls[0][0])
    assert statuses == ["200 OK", "200 OK"]


def test_a_flask_stream_that_breaks_passes_through() -> None:
    """Through Flask's own response machinery: the generator's exception reaches the server."""
    results = []
    for signer in (None, make_signer()):
        app = Flask(__name__)
        raised: list[BaseException] = []

        @app.route("/videos/<name>")
        def video(name: str, app: Flask = app, raised: list[BaseException] = raised) -> Any:
            def generate() -> Iterator[bytes]:
                yield BODY[0]
                raised.append(StreamBroke("storage read failed"))
                raise raised[-1]

            return app.response_class(generate(), headers={"X-App": "kept as is"})

        if signer is not None:
            CloudFrontCookies(app, **options(signer))
        result = Server().run(app)
        assert result.error is raised[0]
        assert result.chunks == [BODY[0]]
        results.append(result)
    without, with_middleware = results
    cookies = cloudfront_set_cookies(header_values(with_middleware.calls[0][1], "Set-Cookie"))
    assert set(cookies) == CUSTOM_SET
    assert with_middleware.calls[0][0] == without.calls[0][0] == "200 OK"


# ---- a client that goes away -------------------------------------------------------------------
DISCONNECTED = [{"type": "http.disconnect"}]


async def naive_asgi_app(scope: Scope, receive: Any, send: Any) -> None:
    """Reads the request, then answers regardless of a disconnect."""
    await receive()
    await asgi_app(scope, receive, send)


def streaming_starlette_app() -> Starlette:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in BODY:
            yield chunk

    async def stream(request: Request) -> Response:
        return StreamingResponse(chunks())

    return Starlette(routes=[Route("/{p:path}", stream)])


DISCONNECT_APPS: dict[str, Callable[[], ASGIApp]] = {
    "naive": lambda: naive_asgi_app,
    "starlette-plain": lambda: starlette_app(None),
    "starlette-streaming": streaming_starlette_app,
}
SERVER_SENDS: dict[str, Callable[[Message], BaseException | None]] = {
    # ASGI 2.4: send on a closed connection raises an OSError subclass (uvicorn's is this one)
    "send-raises": lambda message: ClientDisconnected("client went away"),
    "send-raises-on-body": lambda message: (
        ClientDisconnected("client went away") if message["type"] == "http.response.body" else None
    ),
    # uvicorn's h11 protocol drops messages after a disconnect instead
    "send-drops": lambda message: None,
}


def describe(run: Run) -> tuple[Any, ...]:
    """A run without the start message's headers: what the server saw happen."""
    return (
        type(run.error),
        str(run.error) if run.error else None,
        [(m["type"], m.get("status"), m.get("body"), m.get("more_body")) for m in run.sent],
    )


@pytest.mark.parametrize("server", SERVER_SENDS)
@pytest.mark.parametrize("app", DISCONNECT_APPS)
def test_a_client_that_disconnects_early_sees_the_same_behaviour(app: str, server: str) -> None:
    without = run_asgi(DISCONNECT_APPS[app](), VIDEO_PATH, DISCONNECTED, SERVER_SENDS[server])
    middleware = ASGIMiddleware(DISCONNECT_APPS[app](), **options(make_signer()))
    with_middleware = run_asgi(middleware, VIDEO_PATH, DISCONNECTED, SERVER_SENDS[server])
    assert describe(with_middleware) == describe(without)
    if with_middleware.sent:
        assert_same_apart_from_cookies(with_middleware, without)


# ---- an app that fails after start_response -----------------------------------------------------
class Recorded(SimpleHandler):
    """wsgiref's handler (a real server's error handling), remembering what it logged."""

    logged: list[BaseException]

    def log_exception(self, exc_info: Any) -> None:
        self.logged.append(exc_info[1])


def handle(app: Any, path: str = VIDEO_PATH) -> tuple[list[BaseException], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "HTTP_HOST": APP_HOST}
    setup_testing_defaults(environ)
    out = io.BytesIO()
    handler = Recorded(io.BytesIO(), out, io.StringIO(), environ, multithread=False)
    handler.logged = []
    handler.run(app)
    lines = out.getvalue().split(b"\r\n")
    return handler.logged, b"\r\n".join(line for line in lines if not line.startswith(b"Date:"))


def fails_before_the_body(raised: list[BaseException]) -> Any:
    """Starts a 200, then fails; re-starts as a 500 with exc_info, as PEP 3333 describes."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", list(APP_HEADERS))
        try:
            raise StreamBroke("template failed")
        except StreamBroke as error:
            raised.append(error)
            headers = [("Content-Type", "text/plain")]
            start_response("500 Internal Server Error", headers, sys.exc_info())
        return [b"error"]

    return app


def raises_after_start(raised: list[BaseException]) -> Any:
    """Starts a 200 and raises, leaving the error response to the server."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", list(APP_HEADERS))
        raised.append(StreamBroke("template failed"))
        raise raised[-1]

    return app


def fails_after_the_first_chunk(raised: list[BaseException]) -> Any:
    """Headers and a chunk are out; then start_response with exc_info, which must re-raise."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", list(APP_HEADERS))
        yield BODY[0]
        try:
            raise StreamBroke("storage read failed")
        except StreamBroke as error:
            raised.append(error)
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never sent"

    return app


FAILING_WSGI: dict[str, Callable[[list[BaseException]], Any]] = {
    "exc-info-before-body": fails_before_the_body,
    "raises-after-start": raises_after_start,
    "exc-info-after-first-chunk": fails_after_the_first_chunk,
}


def is_the_apps(logged: BaseException, raised: BaseException) -> bool:
    """The app's own exception object, as wsgiref re-raises it from Python 3.11 on; before, it
    raised a new one around it (``exc_info[0](exc_info[1])``), with or without the middleware."""
    return logged is raised or (type(logged) is type(raised) and logged.args == (raised,))


@pytest.mark.parametrize("path", [VIDEO_PATH, "/elsewhere"])
@pytest.mark.parametrize("failing", FAILING_WSGI)
def test_the_servers_error_handling_sees_the_same_exception(failing: str, path: str) -> None:
    """wsgiref's handler logs the app's own exception object and writes the same bytes (its
    500 page, or the 200 and the chunk already sent), with or without the middleware, except
    for the whole CloudFront set on a 200 that went out."""
    outputs = []
    for wrap in (lambda app: app, lambda app: WSGIMiddleware(app, **options(make_signer()))):
        raised: list[BaseException] = []
        logged, output = handle(wrap(FAILING_WSGI[failing](raised)), path)
        # the app that answers its own 500 leaves the server nothing to log
        expected = [] if failing == "exc-info-before-body" else raised
        assert len(logged) == len(expected)
        assert all(map(is_the_apps, logged, expected))
        outputs.append(output)
    without, with_middleware = outputs
    status_line = with_middleware.split(b"\r\n", 1)[0]
    if status_line.startswith(b"HTTP/1.0 200") and path == VIDEO_PATH:
        head, _, body = with_middleware.partition(b"\r\n\r\n")
        added = (b"Set-Cookie: CloudFront-", b"Cache-Control:", b"Vary:")
        kept = [line for line in head.split(b"\r\n") if not line.startswith(added)]
        assert b"\r\n".join(kept) + b"\r\n\r\n" + body == without
    else:
        assert with_middleware == without


def spy(app: Any, calls: list[Any]) -> Any:
    """Records the ``exc_info`` of each start_response call the app makes."""

    def spied(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            calls.append(exc_info)
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return spied


@pytest.mark.parametrize("failing", FAILING_WSGI)
def test_start_response_is_called_exactly_as_the_app_calls_it(failing: str) -> None:
    """No extra or missing call, ``exc_info`` forwarded as the very same tuple, the error the
    app raised reaching the server, and cookies only on the 200 (never on the 500)."""
    for wrapped in (False, True):
        raised: list[BaseException] = []
        app_calls: list[Any] = []

        app = spy(FAILING_WSGI[failing](raised), app_calls)
        if wrapped:
            app = WSGIMiddleware(app, **options(make_signer()))
        served = Server().run(app)
        assert [exc_info for _, _, exc_info in served.calls] == app_calls
        assert served.error is (None if failing == "exc-info-before-body" else raised[0])
        for status, headers, exc_info in served.calls:
            cookies = cloudfront_set_cookies(header_values(headers, "Set-Cookie"))
            issued = wrapped and status.startswith("200")
            assert set(cookies) == (CUSTOM_SET if issued else set())
            if exc_info is not None:
                assert exc_info[1] is raised[0]
