"""Many distinct users: the middleware's memory stays bounded and its per-request cost holds.

Every user opens their own library, /users/{id}/library, whose rule grants
https://media.example.com/users/{id}/*, so every user needs a signature of their own. Requests go
through the plain WSGI adapter around a bare app, in three passes over the same users:

(a) first visits, no cookies: one signature per user, timed a tenth of the users at a time,
    interleaved (200 users each) with bare ``cryptography`` signing the same users' policy bytes
    (the physical limit);
(b) returning visits, each user sending the cookies (a) gave them: a current set needs no new
    signature, so a counting Signer subclass should see no call;
(c) memory under tracemalloc (untimed): a fresh middleware, each user a first visit then a
    returning one; what the middleware keeps after each tenth, and per cached entry. With
    ``--filler N`` the returning visit's set comes surrounded by N bytes of other cookies (what
    a client padding its header to bloat the cache would send).

The process's RSS is read after every tenth of (a) and (b); it includes this script's own list of
the users' cookies, so (a) also prints it less that list.
Run: python benchmarks/bench_per_user.py [--users 100000] [--key rsa|ecdsa] [--cache-size N]
                                         [--filler BYTES]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench_middleware import ENVIRON, bare_wsgi
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cfcookie_middleware import Signer
from cfcookie_middleware.options import DEFAULT_CACHE_SIZE
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import Policy
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

MEDIA = "https://media.example.com"
RULE = Rule("/users/{user_id}/library", resource=MEDIA + "/users/{user_id}/*")
TENTHS = 10
CHUNK = 200
MB = 1024 * 1024


class CountingSigner(Signer):
    """A real Signer that counts its raw signatures (Signer has ``__slots__``, hence this)."""

    __slots__ = ("calls",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def sign(self, message: bytes) -> bytes:
        self.calls += 1
        return super().sign(message)


bare_app = bare_wsgi()


def visit(app: Any, user: int, cookie: str) -> str:
    """One request for ``user``'s library; the ``Cookie`` header a browser would send next
    (``""`` when the response set no cookie)."""
    environ = dict(ENVIRON)
    environ["PATH_INFO"] = f"/users/{user}/library"
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    set_cookies: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        set_cookies.extend(value for name, value in headers if name == "Set-Cookie")

    for _chunk in app(environ, start_response):
        pass
    return "; ".join(value.split(";", 1)[0] for value in set_cookies)


def rss_mb() -> float:
    """This process's resident memory (Linux ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def tenths(n: int) -> list[range]:
    return [range(n * t // TENTHS, n * (t + 1) // TENTHS) for t in range(TENTHS)]


def bare_signer(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    """The key's own sign() with the hash CloudFront uses for it (as ``Signer`` picks)."""
    if isinstance(key, rsa.RSAPrivateKey):
        pkcs1, sha1 = padding.PKCS1v15(), hashes.SHA1()  # CloudFront's default for RSA
        return lambda data: key.sign(data, pkcs1, sha1)
    ecdsa = ec.ECDSA(hashes.SHA256())
    return lambda data: key.sign(data, ecdsa)


def first_visits(
    app: Any, users: range, sign: Callable[[bytes], bytes], cookies: list[str]
) -> tuple[float, float]:
    """Seconds for the middleware's first visits of ``users`` and for bare signatures over the
    same users' policy bytes (expiring where the middleware's current window ends), taken in
    alternating chunks of CHUNK users so that the machine's noise hits both alike."""
    middleware = bare = 0.0
    for chunk in range(users.start, users.stop, CHUNK):
        part = range(chunk, min(chunk + CHUNK, users.stop))
        start = time.perf_counter()
        for user in part:
            cookies[user] = visit(app, user, "")
        middleware += time.perf_counter() - start
        expires = int(time.time()) // 300 * 300 + 3600
        # built outside the timing: the bare side is only the signature
        texts = [Policy(f"{MEDIA}/users/{user}/*", expires).text().encode() for user in part]
        start = time.perf_counter()
        for text in texts:
            sign(text)
        bare += time.perf_counter() - start
    return middleware, bare


def returning_visits(app: Any, users: range, cookies: list[str]) -> tuple[float, int]:
    """Seconds for ``users``' returning visits, and how many responses re-issued cookies."""
    reissued = 0
    start = time.perf_counter()
    for user in users:
        reissued += visit(app, user, cookies[user]) != ""
    return time.perf_counter() - start, reissued


def strings_mb(strings: Iterable[str]) -> float:
    """What the strings take (the list holding them was allocated before the first RSS)."""
    return sum(sys.getsizeof(s) for s in strings) / MB


def padded(cookie: str, user: int, filler: int) -> str:
    """``cookie`` between two runs of filler, ``filler`` bytes in all: pieces named like
    CloudFront cookies but without ``=``, which a Cookie parser skips (so the set still
    counts as held) but which a lookup by the header's run of CloudFront names would keep."""
    if not (filler and cookie):
        return cookie
    piece = f"CloudFront-{user:07d}-filler"
    half = "; ".join([piece] * (filler // 2 // (len(piece) + 2)))
    return f"{half}; {cookie}; {half}"


def memory_pass(make_app: Callable[[], Any], n: int, filler: int) -> None:
    """(c): retained memory of a fresh middleware after each tenth of ``n`` users."""
    gc.collect()
    tracemalloc.start()
    app = make_app()
    base = tracemalloc.get_traced_memory()[0]
    # The core's caches (private attributes), each as (entry count, clear): returning headers
    # found current, the sets they hold, signed sets, and the routes of recent paths. Cleared in
    # this order, each frees what the ones after it do not share (a header that is exactly its
    # set shares its text with the held set's entry).
    core = app.core
    caches: dict[str, tuple[Callable[[], int], Callable[[], None]]] = {
        "remembered header": (lambda: len(core._current), core._current.clear),
        "held set": (lambda: core._held.cache_info().currsize, core._held.cache_clear),
        "signed set": (lambda: core._signed.cache_info().currsize, core._signed.cache_clear),
        "routed path": (lambda: len(core._routes), core._routes.clear),
    }
    print("\n(c) memory under tracemalloc: a fresh middleware, each user a first then a return")
    if filler:
        print(f"    (each returning set surrounded by {filler} bytes of other cookies)")
    print(
        f"{'users':>8}{'kept by the middleware':>25}"
        + "".join(f"{name + 's':>20}" for name in caches)
    )
    for part in tenths(n):
        for user in part:
            visit(app, user, padded(visit(app, user, ""), user, filler))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        sizes = "".join(f"{count():>20}" for count, _ in caches.values())
        print(f"{part.stop:>8}{kept / MB:>22.1f} MB{sizes}")
    for name, (count, clear) in caches.items():
        entries = count()
        before = tracemalloc.get_traced_memory()[0]
        clear()
        gc.collect()
        freed = before - tracemalloc.get_traced_memory()[0]
        print(f"one {name}: {freed / max(entries, 1):.0f} bytes ({entries} entries)")
    tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--key", choices=("rsa", "ecdsa"), default="rsa")
    parser.add_argument("--cache-size", type=int, default=DEFAULT_CACHE_SIZE)
    parser.add_argument("--filler", type=int, default=0, metavar="BYTES")
    args = parser.parse_args()
    n = args.users
    if n < TENTHS:
        parser.error(f"--users: at least {TENTHS}")
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if args.key == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    signer = CountingSigner("K2JCJMDEHXQW5F", key)

    def make_app() -> CloudFrontCookieMiddleware:
        return CloudFrontCookieMiddleware(
            bare_app,
            signer=signer,
            rules=[RULE],
            cookie_domain=".example.com",
            cache_size=args.cache_size,
        )

    app = make_app()
    sign = bare_signer(key)
    label = "RSA-2048 SHA1" if args.key == "rsa" else "ECDSA-P256 SHA256"
    default = " (the default)" if args.cache_size == DEFAULT_CACHE_SIZE else ""
    print(f"{n} users, {label}, cache_size {args.cache_size}{default}; a tenth of the users a row")
    cookies = [""] * n
    gc.collect()
    rss_start = rss_mb()
    print(f"RSS before: {rss_start:.1f} MB\n")

    print("(a) first visits: one signature per user")
    print(
        f"{'users':>8}{'requests/s':>12}{'bare sigs/s':>13}{'ratio':>7}{'RSS MB':>9}"
        f"{'less the list':>15}"
    )
    signer.calls = 0
    rates, ratios = [], []
    total = bare_total = 0.0
    for part in tenths(n):
        seconds, bare_seconds = first_visits(app, part, sign, cookies)
        total, bare_total = total + seconds, bare_total + bare_seconds
        rates.append(len(part) / seconds)
        ratios.append(bare_seconds / seconds)
        rss = rss_mb()
        less = rss - strings_mb(cookies[: part.stop])
        print(
            f"{part.stop:>8}{rates[-1]:>12.0f}{len(part) / bare_seconds:>13.0f}"
            f"{bare_seconds / seconds:>7.2f}{rss:>9.1f}{less:>15.1f}"
        )
    print(
        f"{'all':>8}{n / total:>12.0f}{n / bare_total:>13.0f}{bare_total / total:>7.2f}"
        f"   signer calls {signer.calls} (one per user: {signer.calls == n})"
    )
    print(
        f"first 10% vs last 10%: {rates[0]:.0f} vs {rates[-1]:.0f} requests/s, "
        f"{ratios[0]:.2f} vs {ratios[-1]:.2f} of bare signing"
    )
    print(
        f"'less the list': the RSS less this script's list of the users' cookies "
        f"({strings_mb(cookies):.1f} MB at the end, by sys.getsizeof)"
    )

    print("\n(b) returning visits with the cookies from (a): goal, no signature at all")
    print(f"{'users':>8}{'requests/s':>12}{'signer calls':>14}{'re-issued':>11}{'RSS MB':>9}")
    signer.calls = 0
    rates = []
    total, reissued_total = 0.0, 0
    for part in tenths(n):
        calls = signer.calls
        seconds, reissued = returning_visits(app, part, cookies)
        total, reissued_total = total + seconds, reissued_total + reissued
        rates.append(len(part) / seconds)
        print(
            f"{part.stop:>8}{rates[-1]:>12.0f}{signer.calls - calls:>14}{reissued:>11}"
            f"{rss_mb():>9.1f}"
        )
    print(f"{'all':>8}{n / total:>12.0f}{signer.calls:>14}{reissued_total:>11}")
    print(f"first 10% vs last 10%: {rates[0]:.0f} vs {rates[-1]:.0f} requests/s")
    verdict = "met" if signer.calls == 0 and reissued_total == 0 else "NOT met"
    print(
        f"goal (b): 0 signer calls and 0 re-issued responses: {verdict} "
        f"({signer.calls} calls, {reissued_total} re-issued)"
    )
    gc.collect()
    print(f"RSS after (a) and (b): {rss_mb():.1f} MB (+{rss_mb() - rss_start:.1f} MB)")

    del app, cookies
    memory_pass(make_app, n, args.filler)


if __name__ == "__main__":
    main()
