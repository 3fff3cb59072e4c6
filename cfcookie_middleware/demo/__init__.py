"""``cfcookie demo``: the whole flow on loopback, with nothing configured.

A throwaway key pair, the plain-WSGI example app (``cfcookie_middleware.demo.app``, shipped in
the package so that an installed wheel runs the demo from any directory) with the middleware,
and the local CloudFront stand-in (``edge.py``) serving a folder of demo media. Both listen on
``localhost`` on two ports: cookies are not port-specific, so host-only cookies set by the app on
``localhost:8000`` reach the edge on ``localhost:8001`` just as ``Domain=.example.com`` cookies
set by ``www.example.com`` reach ``media.example.com`` in production. The demo runs over plain
http, so its cookies are not ``Secure`` (production keeps the secure default).
"""

from __future__ import annotations

import http.cookiejar
import logging
import struct
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import DOCS_URL
from cfcookie_middleware.demo.app import create_app
from cfcookie_middleware.demo.site import LIBRARIES, VIDEOS
from cfcookie_middleware.edge import Edge, serve
from cfcookie_middleware.signing import Signer

__all__ = [
    "DEMO_KEY_PAIR_ID",
    "Demo",
    "configure_logging",
    "instructions",
    "png",
    "running_demo",
    "self_test",
]

DEMO_KEY_PAIR_ID = "K2DEMOKEYPAIR"
_HOST = "localhost"


@dataclass
class Demo:
    """The two running servers and where they listen."""

    app_url: str
    media_url: str
    signer: Signer
    stop: Callable[[], None]


@contextmanager
def running_demo(app_port: int = 8000, edge_port: int = 8001) -> Iterator[Demo]:
    """Start the example app and the edge on loopback (port 0 picks free ports)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = Signer(DEMO_KEY_PAIR_ID, key)
    with tempfile.TemporaryDirectory(prefix="cfcookie-demo-") as root:
        _write_media(Path(root))
        edge_server = serve(Edge(root, {DEMO_KEY_PAIR_ID: signer.public_key}), port=edge_port)
        media_url = f"http://{_HOST}:{edge_server.server_port}"
        try:
            app = create_app(signer, media_url=media_url, cookie_domain=None, secure=False)
            app_server = serve(app, port=app_port)
        except BaseException:
            edge_server.server_close()
            raise
        threads = [
            threading.Thread(target=server.serve_forever, daemon=True)
            for server in (edge_server, app_server)
        ]
        for thread in threads:
            thread.start()

        def stop() -> None:
            for server in (app_server, edge_server):
                server.shutdown()
                server.server_close()
            for thread in threads:
                thread.join()

        try:
            yield Demo(f"http://{_HOST}:{app_server.server_port}", media_url, signer, stop)
        finally:
            stop()


def _write_media(root: Path) -> None:
    """The files the example's pages point at: posters are real images, videos placeholders."""
    files = {f"videos/{name}.mp4": b"demo video " + name.encode() for name in VIDEOS}
    files.update({f"videos/{name}.jpg": png(160, 90) for name in VIDEOS})
    for user, names in LIBRARIES.items():
        files.update({f"users/{user}/{name}": f"{user}'s {name}".encode() for name in names})
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)


def png(width: int, height: int, rgb: tuple[int, int, int] = (0x90, 0x90, 0x90)) -> bytes:
    """A one-colour PNG built from the spec (signature, IHDR, IDAT, IEND; each chunk is length,
    type, data, CRC-32 of type and data): demo posters need no imaging library. Browsers sniff
    image types, so it serves as a .jpg poster too."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Each step looks at the answer itself, not where it points (a 3xx raises HTTPError)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class _Browser:
    """Just enough of a browser for the self-test: ``http.cookiejar`` keeps cookies by Domain
    and Path, sends Secure ones over https only and drops expired ones, so a setup that a
    browser would break (wrong Path, Secure over http, a logout at another Path) fails here."""

    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def request(
        self, url: str, method: str = "GET", form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], list[str]]:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # loopback: never through a configured proxy
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirect,
        )
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(url, data, method=method)  # noqa: S310 - the demo's http
        try:
            with opener.open(request, timeout=10) as answer:
                answer.read()
                status, headers = answer.status, answer.headers
        except urllib.error.HTTPError as error:  # 3xx, 4xx: answers too
            with error:
                error.read()
                status, headers = error.code, error.headers
        return status, dict(headers.items()), headers.get_all("Set-Cookie") or []


def self_test(demo: Demo, say: Callable[[str], None] = print) -> bool:
    """Run the flow a person would click through; print each step; True when all pass."""
    browser = _Browser()
    video, other = f"{demo.media_url}/videos/intro.mp4", f"{demo.media_url}/users/bob/match.mp4"
    results = []

    def step(name: str, ok: bool, detail: str) -> None:
        results.append(ok)
        say(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}")

    status, headers, _ = browser.request(video)
    step("unsigned request to the edge", status == 403, _edge_answer(status, headers))
    browser.request(f"{demo.app_url}/login", "POST", {"user": "alice"})
    status, _, set_cookies = browser.request(f"{demo.app_url}/videos")
    handed = sorted(c.split("=")[0] for c in set_cookies if c.startswith("CloudFront-"))
    step("app page hands out cookies", status == 200 and bool(handed), f"{status}, {handed}")
    status, headers, _ = browser.request(video)
    step("edge serves a file inside the policy", status == 200, _edge_answer(status, headers))
    status, headers, _ = browser.request(other)
    step("edge refuses a file outside it", status == 403, _edge_answer(status, headers))
    browser.request(f"{demo.app_url}/logout", "POST")
    status, headers, _ = browser.request(video)
    step("after logout the edge refuses again", status == 403, _edge_answer(status, headers))
    return all(results)


def _edge_answer(status: int, headers: dict[str, str]) -> str:
    return f"{status} {headers.get('X-Cfcookie-Reason', '')}".strip()


def instructions(demo: Demo) -> str:
    """What to open and click, printed when the demo starts."""
    return f"""
cfcookie demo: an example app with the middleware, and a local CloudFront in front of media.

  app:   {demo.app_url}/login    (log in as alice, then open the videos and your library)
  edge:  {demo.media_url}/videos/intro.mp4    (try it before logging in: 403 MissingKey)

Each request to the edge is logged below with CloudFront's decision and the reason. Try
{demo.media_url}/users/bob/match.mp4 as alice (403: outside alice's policy), then log out.
What you see, page by page: {DOCS_URL}getting-started/#the-demo
Ctrl-C stops both servers."""


def configure_logging() -> None:
    """The edge's decisions (and the middleware's warnings) on stderr, one line each."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
