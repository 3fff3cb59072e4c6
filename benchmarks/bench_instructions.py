"""Machine instructions per request, counted by valgrind instead of timed.

On a shared machine a timed median moves by tenths of a microsecond from run to run; the number
of instructions a request executes does not (it moves by about 2%). Each variant of
``bench_middleware``'s Starlette (or FastAPI) hello world runs in a worker under valgrind's
cachegrind twice, with 200 and with 1,200 requests after the same warm-up, and the difference
over 1,000 requests is what one request costs; the plain app's figure is subtracted. With
``--distinct``, every request is a user never seen before (``benchmarks/loadapps.py``'s
``*_users`` app, over plain http as ``load.py``'s client sends it) and the figure subtracted is
its ``*_signs`` twin's, whose view signs each user's set with bare ``cryptography``. Cachegrind
also simulates the first-level caches: a miss there costs more than an instruction, which is
why a timed figure can rank two middlewares otherwise. Needs valgrind (``apt install valgrind``);
each worker takes about 10 s.
Run: python benchmarks/bench_instructions.py [--app starlette|fastapi] [--distinct]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

VARIANTS = ("plain", "this", "least", "SessionMiddleware", "TrustedHostMiddleware")
COUNTS = {
    "instructions": r"I\s+refs:\s+([\d,]+)",
    "I1 misses": r"I1\s+misses:\s+([\d,]+)",
    "D1 misses": r"D1\s+misses:\s+([\d,]+)",
}
KEY_FILE = "BENCH_INSTRUCTIONS_KEY"
"""The environment variable naming the worker's key: one fixed key, since generating one in
each worker would add a random number of instructions."""


def worker(app_name: str, variant: str, visit: str, requests: int) -> None:
    """Build one variant, warm it up, then run ``requests`` requests."""
    import bench_middleware as bench
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from cfcookie_middleware import Signer
    from cfcookie_middleware.asgi import CloudFrontCookieMiddleware
    from cfcookie_middleware.signing import Policy

    if visit == "distinct":
        os.environ["CLOUDFRONT_PRIVATE_KEY"] = Path(os.environ[KEY_FILE]).read_text()
        os.environ["CLOUDFRONT_KEY_PAIR_ID"] = "K2JCJMDEHXQW5F"
        from benchmarks import loadapps
        from benchmarks.load import USER_PATH

        users = (USER_PATH.format(user=f"user-{n}") for n in itertools.count())
        served = getattr(loadapps, f"{app_name}_{variant}")
        each_user = bench.asgi_runner(served, "", paths=users, scheme="http")
        each_user(300)
        each_user(requests)
        return
    key = serialization.load_pem_private_key(Path(os.environ[KEY_FILE]).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signer = Signer("K2JCJMDEHXQW5F", key)
    expires = int(time.time()) // 300 * 300 + 3600
    held = signer.sign_policy(Policy(f"{bench.MEDIA}/videos/*", expires))
    cookie = "; ".join(f"{name}={value}" for name, value in held.items())
    app: Any = bench.fastapi_app() if app_name == "fastapi" else bench.starlette_app()
    if variant == "this":
        app.add_middleware(CloudFrontCookieMiddleware, signer=signer, **bench.OPTIONS)
    elif variant == "least":
        added = bench.first_visit_headers(signer)
        app.add_middleware(bench.LeastASGI, current=cookie, expires=expires, added=added)
    elif variant == "SessionMiddleware":
        app.add_middleware(SessionMiddleware, secret_key="bench")
    elif variant == "TrustedHostMiddleware":
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["www.example.com"])
    run = bench.asgi_runner(app, "" if visit == "first" else cookie)
    run(300)
    run(requests)


def counted(app_name: str, variant: str, visit: str, requests: int) -> dict[str, int]:
    """What valgrind counts over a whole worker process."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--worker",
            app_name,
            variant,
            visit,
            str(requests),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = {}
    for name, pattern in COUNTS.items():
        match = re.search(pattern, done.stderr)
        assert match, done.stderr[-2000:]
        found[name] = int(match.group(1).replace(",", ""))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=("starlette", "fastapi"), default="starlette")
    parser.add_argument("--distinct", action="store_true", help="a new user per request")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    here = Path(__file__).parent
    sys.path[:0] = [str(here), str(here.parent)]
    if args.worker:
        app_name, variant, visit, requests = args.worker
        worker(app_name, variant, visit, int(requests))
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.NamedTemporaryFile(suffix=".pem") as pem:
        pem.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        pem.flush()
        os.environ[KEY_FILE] = pem.name
        visits: tuple[str, ...]
        variants: tuple[str, ...]
        if args.distinct:
            print(f"{args.app}, a new user per request: over the app signing bare (valgrind)\n")
            visits, variants = ("distinct",), ("signs", "users")
        else:
            print(f"{args.app} hello world: per request, over the plain app (valgrind)\n")
            visits, variants = ("first", "returning"), VARIANTS
        print(f"{'visit':<11}{'variant':<24}" + "".join(f"{name:>14}" for name in COUNTS))
        for visit in visits:
            per_request = {}
            for variant in variants:
                many = counted(args.app, variant, visit, 1200)
                few = counted(args.app, variant, visit, 200)
                per_request[variant] = {name: (many[name] - few[name]) / 1000 for name in COUNTS}
            yardstick = per_request.pop(variants[0])
            for variant, figures in per_request.items():
                added = "".join(f"{figures[n] - yardstick[n]:>14,.0f}" for n in COUNTS)
                print(f"{visit:<11}{'this' if variant == 'users' else variant:<24}{added}")


if __name__ == "__main__":
    main()
