"""Middleware overhead in-process: hello-world apps with and without the middleware.

Calls each app directly through its protocol (a WSGI environ and start_response; an ASGI scope,
receive and send) so the figure is the app plus the middleware, not a test client or a socket.
"first visit" sends no cookies (the middleware hands out a cached signed set); "returning" sends
a current set (the middleware checks it and adds nothing). Rounds are short and interleaved,
and the best round of each counts: this machine's noise comes in bursts, and many short rounds
let both variants find a quiet one. The whole measurement runs in several fresh processes, and
the medians are reported with the range of each ratio: a process's memory layout alone moves
a framework's in-process ratio by several hundredths (as pyperf's documentation warns).
The frameworks' own middlewares run in the same rounds as yardsticks (``YARDSTICKS``), and a
second table gives what each adds per request next to this middleware.
Run: python benchmarks/bench_middleware.py [--requests 1000] [--rounds 60] [--processes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import Signer
from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import Policy

MEDIA = "https://media.example.com"
RULES = [Rule("/videos/*", resource=f"{MEDIA}/videos/*")]
OPTIONS: dict[str, Any] = {"rules": RULES, "cookie_domain": ".example.com"}


ENVIRON = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "www.example.com",
    "SERVER_PORT": "443",
    "HTTP_HOST": "www.example.com",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "203.0.113.9",
    "wsgi.url_scheme": "https",
    "wsgi.input": io.BytesIO(),
    "wsgi.errors": io.StringIO(),
    "wsgi.version": (1, 0),
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}
"""A WSGI request as a server on www.example.com would build it (PATH_INFO left to the caller)."""


def wsgi_runner(app: Any, cookie: str) -> Callable[[int], None]:
    environ: dict[str, Any] = {**ENVIRON, "PATH_INFO": "/videos/a"}
    if cookie:
        environ["HTTP_COOKIE"] = cookie

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    def run(n: int) -> None:
        for _ in range(n):
            body: Iterable[bytes] = app(dict(environ), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return run


def asgi_runner(
    app: Any, cookie: str, *, paths: Iterator[str] | None = None, scheme: str = "https"
) -> Callable[[int], None]:
    """Run ``n`` requests through ``app``: for ``/videos/a``, or each for the next of ``paths``."""
    headers = [(b"host", b"www.example.com")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "path": "/videos/a",
        "raw_path": b"/videos/a",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("203.0.113.9", 50000),
        "server": ("www.example.com", 443),
    }
    requested = (
        itertools.repeat(scope)
        if paths is None
        else ({**scope, "path": path, "raw_path": path.encode()} for path in paths)
    )

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def many(n: int) -> None:
        for each in itertools.islice(requested, n):
            await app(dict(each), receive, send)

    return lambda n: asyncio.run(many(n))


def bare_wsgi() -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    return app


def flask_app() -> Any:
    from flask import Flask

    app = Flask("bench")
    app.add_url_rule("/videos/<path:name>", "video", lambda name: "hello")
    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def video(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/videos/{name:path}", video)])


def fastapi_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    @app.get("/videos/{name:path}")
    async def video(name: str) -> PlainTextResponse:  # async: no threadpool hop to measure
        return PlainTextResponse("hello")

    return app


class LeastWSGI:
    """The least work any cookie middleware must do, as a yardstick: read the method, the path
    and the Cookie header; match the path with one regex; look the raw Cookie header up in a dict
    of held sets and compare the set's expiry with the clock (a returning visitor then passes
    through); else add, to a 2xx response, headers made in advance (the cache headers and the
    set). The Host is not read, since the benchmark's rule names none, and nothing else is
    checked (ambiguous paths, the app's cache headers, a set among other cookies, renewal); not
    safe to use."""

    def __init__(self, app: Any, current: str, expires: int, added: list[tuple[str, str]]) -> None:
        self.app, self.held, self.added = app, {current: expires}, added

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] != "GET" or not LEAST_PATTERN(environ["PATH_INFO"]):
            return self.app(environ, start_response)
        if time.time() + LEAST_MARGIN < self.held.get(environ.get("HTTP_COOKIE", ""), 0):
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status[:1] == "2":
                headers = headers + self.added
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class LeastASGI:
    """``LeastWSGI`` for ASGI: the Cookie found in one pass over the scope's headers, its raw
    bytes looked up, and the headers to add made in advance as bytes."""

    def __init__(self, app: Any, current: str, expires: int, added: list[tuple[str, str]]) -> None:
        self.app, self.held = app, {current.encode(): expires}
        self.added = [(n.lower().encode(), v.encode()) for n, v in added]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not LEAST_PATTERN(scope["path"]):
            await self.app(scope, receive, send)
            return
        cookie = b""
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie = value
        if time.time() + LEAST_MARGIN < self.held.get(cookie, 0):
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                message = {**message, "headers": [*message["headers"], *self.added]}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


LEAST_PATTERN = re.compile(r"/videos/.*").fullmatch
LEAST_MARGIN = 1800
"""How long before its expiry a held set is renewed (the middleware's default: half the ttl)."""


YARDSTICKS = ["ProxyFix", "SessionMiddleware", "TrustedHostMiddleware"]
"""Middlewares of the frameworks themselves, measured in the same rounds: Werkzeug's ProxyFix
around the WSGI apps, Starlette's SessionMiddleware (no session cookie sent, nothing stored)
and TrustedHostMiddleware (the request's host allowed) inside the ASGI ones."""


def builds(
    signer: Signer, current: str, expires: int, added: list[tuple[str, str]]
) -> dict[str, tuple[Callable[..., Callable[[int], None]], dict[str, Any]]]:
    """name -> (runner, variant -> app): without the middleware, with it, with the least
    middleware, and with each yardstick that fits the framework."""
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from werkzeug.middleware.proxy_fix import ProxyFix

    from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as ASGIMiddleware
    from cfcookie_middleware.flask import CloudFrontCookies
    from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WSGIMiddleware

    flask_with, flask_least, flask_proxied = flask_app(), flask_app(), flask_app()
    CloudFrontCookies(flask_with, signer=signer, **OPTIONS)
    flask_least.wsgi_app = LeastWSGI(flask_least.wsgi_app, current, expires, added)  # type: ignore[method-assign]
    flask_proxied.wsgi_app = ProxyFix(flask_proxied.wsgi_app)  # type: ignore[method-assign]
    result: dict[str, tuple[Callable[..., Callable[[int], None]], dict[str, Any]]] = {
        "bare WSGI": (
            wsgi_runner,
            {
                "without": bare_wsgi(),
                "with": WSGIMiddleware(bare_wsgi(), signer=signer, **OPTIONS),
                "least": LeastWSGI(bare_wsgi(), current, expires, added),
                "ProxyFix": ProxyFix(bare_wsgi()),
            },
        ),
        "Flask": (
            wsgi_runner,
            {
                "without": flask_app(),
                "with": flask_with,
                "least": flask_least,
                "ProxyFix": flask_proxied,
            },
        ),
    }
    for name, factory in (("Starlette", starlette_app), ("FastAPI", fastapi_app)):
        variants = {variant: factory() for variant in ("without", "with", "least", *YARDSTICKS[1:])}
        variants["with"].add_middleware(ASGIMiddleware, signer=signer, **OPTIONS)
        variants["least"].add_middleware(LeastASGI, current=current, expires=expires, added=added)
        variants["SessionMiddleware"].add_middleware(SessionMiddleware, secret_key="bench")
        variants["TrustedHostMiddleware"].add_middleware(
            TrustedHostMiddleware, allowed_hosts=["www.example.com"]
        )
        result[name] = (asgi_runner, variants)
    return result


def best_rate(runs: dict[str, Callable[[int], None]], n: int, rounds: int) -> dict[str, float]:
    best = dict.fromkeys(runs, float("inf"))
    for run in runs.values():
        run(min(n, 500))  # warm up: imports, routing caches, the first signature
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run(n)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: n / seconds for name, seconds in best.items()}


def no_view(request: object, params: Mapping[str, str]) -> RequestView:
    raise AssertionError("the benchmark's rule reads nothing from the request")


def first_visit_headers(signer: Signer) -> list[tuple[str, str]]:
    """What the middleware adds to a first visit's response: Cache-Control, Vary, the set."""
    pending = CookieCore(signer=signer, **OPTIONS).start(
        method="GET",
        scheme="https",
        path="/videos/a",
        host="www.example.com",
        cookie_header="",
        request=None,
        view=no_view,
    )
    assert pending is not None
    added = pending.finish(200, [])
    assert added is not None
    return added


def measure(requests: int, rounds: int) -> dict[str, Any]:
    """One process's figures: each row's best rates, and the time of one RSA signature."""
    signer = Signer(
        "K2JCJMDEHXQW5F", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    now = int(time.time())
    window = now // 300 * 300  # the window the middleware is in: its cookies are current
    expires = window + 3600  # the rule's default ttl of an hour
    held = signer.sign_policy(Policy(f"{MEDIA}/videos/*", expires))
    cookie = "; ".join(f"{k}={v}" for k, v in held.items())
    sign_seconds = min(
        (lambda t: (signer.sign(b"x" * 120), time.perf_counter() - t)[1])(time.perf_counter())
        for _ in range(200)
    )
    added = first_visit_headers(signer)
    rows = {}
    for name, (runner, variants) in builds(signer, cookie, expires, added).items():
        for visit, sent in (("first", ""), ("returning", cookie)):
            rows[f"{name}|{visit}"] = best_rate(
                {variant: runner(app, sent) for variant, app in variants.items()},
                requests,
                rounds,
            )
    return {"sign_seconds": sign_seconds, "rows": rows}


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Medians over the processes, with the range of each ratio."""
    sign_seconds = statistics.median(run["sign_seconds"] for run in runs)
    print(
        f"{args.requests} requests per round, best of {args.rounds} rounds, in each of "
        f"{len(runs)} fresh processes; medians over the processes, requests/second\n"
    )
    print(
        f"{'app':<11}{'visit':<10}{'without':>10}{'with':>10}{'ratio':>7}{'range':>12}"
        f"{'least':>7}{'added/request':>16}"
    )
    for row in runs[0]["rows"]:
        rates = [run["rows"][row] for run in runs]
        ratios = sorted(r["with"] / r["without"] for r in rates)
        added = statistics.median(1 / r["with"] - 1 / r["without"] for r in rates)
        name, visit = row.split("|")
        print(
            f"{name:<11}{visit:<10}{statistics.median(r['without'] for r in rates):>10.0f}"
            f"{statistics.median(r['with'] for r in rates):>10.0f}"
            f"{statistics.median(ratios):>7.2f}{f'{ratios[0]:.2f}-{ratios[-1]:.2f}':>12}"
            f"{statistics.median(r['least'] / r['without'] for r in rates):>7.2f}"
            f"{added * 1e6:>10.1f} us ({added / sign_seconds:.1%} of one RSA-2048 signature)"
        )
    print("\nadded per request over the plain app, us (medians; yardsticks in the same rounds)")
    print(
        f"{'app':<11}{'visit':<10}{'this':>7}{'least':>7}" + "".join(f"{y:>23}" for y in YARDSTICKS)
    )
    for row in runs[0]["rows"]:
        name, visit = row.split("|")
        line = f"{name:<11}{visit:<10}{added_us(runs, row, 'with'):>7.1f}"
        line += f"{added_us(runs, row, 'least'):>7.1f}"
        for yardstick in YARDSTICKS:
            found = yardstick in runs[0]["rows"][row]
            line += f"{added_us(runs, row, yardstick):>23.1f}" if found else f"{'-':>23}"
        print(line)
    print(f"\none RSA-2048 signature: {sign_seconds * 1e6:.0f} us on this machine")
    print(
        "least: a yardstick middleware doing only the work any implementation must (LeastWSGI, "
        "LeastASGI): find the Cookie header, match the path, look the raw header up and compare "
        "the held set's expiry with the clock, or append headers made in advance to a 2xx"
    )


def added_us(runs: list[dict[str, Any]], row: str, variant: str) -> float:
    """The median over the processes of what ``variant`` adds per request, in microseconds."""
    rates = [run["rows"][row] for run in runs]
    return statistics.median(1 / r[variant] - 1 / r["without"] for r in rates) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.requests, args.rounds)))
        return
    runs = []
    for number in range(1, args.processes + 1):
        worker = [sys.executable, __file__, "--worker"]
        worker += ["--requests", str(args.requests), "--rounds", str(args.rounds)]
        done = subprocess.run(worker, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
        print(f"process {number} of {args.processes} done", file=sys.stderr)
    report(runs, args)


if __name__ == "__main__":
    main()
