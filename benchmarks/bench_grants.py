"""A grant named at the view against a rule for the same resource: what each costs per request.

Two levels: the core alone (``CookieCore.start`` + ``finish`` for a rule, ``start_grant`` +
``finish`` for a grant), and a Flask app called as a WSGI server calls it, with the view
undecorated and without a rule (the floor), under a rule, and decorated with the extension's
``grant``. "first visit" sends no cookies (a cached signed set goes out); "returning" sends a
current set (nothing goes out). Rounds are short and interleaved, and the best round counts.
Run: python benchmarks/bench_grants.py [--requests 2000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import flask
from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import CookieCore, Rule, Signer
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.grants import Grant

MEDIA = "https://media.example.com"
VIDEOS = f"{MEDIA}/videos/{{video_id}}/*"
DOMAIN = ".example.com"
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "1")]


def held(set_cookies: list[tuple[str, str]]) -> str:
    """The Cookie header a browser sends back for these ``Set-Cookie`` headers."""
    return "; ".join(v.split(";")[0] for k, v in set_cookies if k == "Set-Cookie")


def core_cases(signer: Signer) -> dict[str, Callable[[], object]]:
    rules = [Rule("/videos/{video_id}", resource=VIDEOS)]
    core = CookieCore(signer=signer, rules=rules, cookie_domain=DOMAIN)
    declared = Grant(VIDEOS)
    facts: dict[str, Any] = {"method": "GET", "scheme": "https", "host": "www.example.com"}

    def rule(cookie: str) -> list[tuple[str, str]] | None:
        pending = core.start(
            path="/videos/7",
            cookie_header=cookie,
            request=None,
            view=None,  # type: ignore[arg-type]
            **facts,
        )
        return None if pending is None else pending.finish(200, HEADERS)

    def grant(cookie: str) -> list[tuple[str, str]] | None:
        pending = core.start_grant(
            declared,
            params={"video_id": "7"},
            cookie_header=cookie,
            request=None,
            view=None,
            **facts,  # type: ignore[arg-type]
        )
        return None if pending is None else pending.finish(200, HEADERS)

    returning = held(rule("") or [])
    return {
        "core: rule, first visit": lambda: rule(""),
        "core: grant, first visit": lambda: grant(""),
        "core: rule, returning": lambda: rule(returning),
        "core: grant, returning": lambda: grant(returning),
    }


def flask_app(signer: Signer, form: str) -> flask.Flask:
    rules = [Rule("/videos/{video_id}", resource=VIDEOS)] if form == "rule" else []
    cloudfront = CloudFrontCookies(signer=signer, rules=rules, cookie_domain=DOMAIN)
    app = flask.Flask(__name__)

    def watch(video_id: str) -> str:
        return "x"

    view = cloudfront.grant(VIDEOS)(watch) if form == "grant" else watch
    app.add_url_rule("/videos/<video_id>", view_func=view)
    if form != "none":
        cloudfront.init_app(app)
    return app


def flask_cases(signer: Signer) -> dict[str, Callable[[], object]]:
    cases: dict[str, Callable[[], object]] = {}
    for form in ("none", "rule", "grant"):
        app = flask_app(signer, form)

        def call(cookie: str, app: flask.Flask = app) -> list[tuple[str, str]]:
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/videos/7",
                "SERVER_NAME": "www.example.com",
                "SERVER_PORT": "443",
                "HTTP_HOST": "www.example.com",
                "wsgi.url_scheme": "https",
                "HTTP_COOKIE": cookie,
            }
            started: list[list[tuple[str, str]]] = []
            body = app(environ, lambda status, headers, exc_info=None: started.append(headers))
            b"".join(body)
            return started[0]

        returning = held(call(""))
        cases[f"flask: {form}, first visit"] = lambda call=call: call("")
        if form != "none":
            cases[f"flask: {form}, returning"] = lambda call=call, c=returning: call(c)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    signer = Signer(
        "K2JCJMDEHXQW5F", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    cases = {**core_cases(signer), **flask_cases(signer)}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            for _ in range(args.requests):
                case()
            best[name] = min(best[name], (time.perf_counter() - start) / args.requests)
    for name, seconds in best.items():
        print(f"{name:28} {seconds * 1e6:7.2f} us/request")


if __name__ == "__main__":
    main()
