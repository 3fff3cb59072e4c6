"""``cfcookie demo``: the whole flow on loopback, with nothing configured.

A throwaway key pair, the plain-WSGI example app (``cfcookie_middleware.demo.app``, shipped in
the package so that an installed wheel runs the demo from any directory) with the middleware,
and the local CloudFront stand-in (``edge.py``) serving a folder of demo media. Both listen on
``localhost`` on two ports: cookies are not port-specific, so host-only cookies set by the app on
``localhost:8000`` reach the edge on ``localhost:8001`` just as ``Domain=.example.com`` cookies
set by ``www.example.com`` reach ``media.example.com`` in production. The demo runs over plain
http, so its cookies are not ``Secure`` (production keeps the secure default). The two ports are
two origins, so the edge answers the app's origin with CORS credentials, for hls.js.

The media is one real clip shipped in the package (``media/``: six seconds of a test pattern and
a tone, H.264 Constrained Baseline and AAC-LC, which every browser with H.264 plays, Debian's
Chromium included), served under every name the pages use. It was made once with Debian's
ffmpeg 5.1::

    ffmpeg -f lavfi -i testsrc=size=160x90:rate=10:duration=6 \
        -f lavfi -i sine=frequency=440:sample_rate=22050:duration=6 \
        -c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -crf 36 -g 10 \
        -keyint_min 10 -sc_threshold 0 -c:a aac -b:a 12k -ac 1 -shortest \
        -movflags +faststart clip.mp4
    ffmpeg -i clip.mp4 -c copy -f hls -hls_time 1 -hls_playlist_type vod \
        -hls_segment_filename 'clip/segment%d.ts' clip/index.m3u8
    ffmpeg -ss 1 -i clip.mp4 -frames:v 1 -q:v 6 clip.jpg
"""

from __future__ import annotations

import http.cookiejar
import logging
import re
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import DOCS_URL
from cfcookie_middleware.demo.app import create_app
from cfcookie_middleware.demo.site import LIBRARIES, REFRESH_PATH, VIDEOS
from cfcookie_middleware.edge import Edge, serve
from cfcookie_middleware.signing import Signer

__all__ = [
    "DEMO_KEY_PAIR_ID",
    "Demo",
    "configure_logging",
    "instructions",
    "media_files",
    "running_demo",
    "self_test",
]

DEMO_KEY_PAIR_ID = "K2DEMOKEYPAIR"
MEDIA = Path(__file__).resolve().parent / "media"
"""The shipped clip: ``clip.mp4``, ``clip.jpg`` and the HLS stream ``clip/``."""
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
    app_port = app_port or _free_port()  # the edge needs the app's origin for CORS
    app_origin = f"http://{_HOST}:{app_port}"
    with tempfile.TemporaryDirectory(prefix="cfcookie-demo-") as root:
        for name, source in media_files().items():
            (Path(root) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, Path(root) / name)
        edge = Edge(root, {DEMO_KEY_PAIR_ID: signer.public_key}, cors_origins=[app_origin])
        edge_server = serve(edge, port=edge_port)
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
            yield Demo(app_origin, media_url, signer, stop)
        finally:
            stop()


def _free_port() -> int:
    """A port free on loopback now (the app binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def media_files() -> dict[str, Path]:
    """Every file the example pages point at (a path below ``MEDIA_URL``) and the shipped file
    that serves it: the one clip under each catalogue and library name."""
    clip = {
        ".mp4": MEDIA / "clip.mp4",
        ".jpg": MEDIA / "clip.jpg",
        **{f"/{part.name}": part for part in sorted((MEDIA / "clip").iterdir())},
    }
    names = [f"videos/{name}" for name in VIDEOS]
    names += [f"users/{user}/{name}" for user, clips in LIBRARIES.items() for name in clips]
    return {name + suffix: source for name in names for suffix, source in clip.items()}


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
        self,
        url: str,
        method: str = "GET",
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], list[str], bytes]:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # loopback: never through a configured proxy
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirect,
        )
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(  # noqa: S310 - the demo's own http URLs
            url, data, headers or {}, method=method
        )
        try:
            with opener.open(request, timeout=10) as answer:
                body, status, received = answer.read(), answer.status, answer.headers
        except urllib.error.HTTPError as error:  # 3xx, 4xx: answers too
            with error:
                body, status, received = error.read(), error.code, error.headers
        return status, dict(received.items()), received.get_all("Set-Cookie") or [], body


def self_test(demo: Demo, say: Callable[[str], None] = print) -> bool:
    """Run the flow a person would click through; print each step; True when all pass."""
    browser = _Browser()
    videos = f"{demo.media_url}/videos"
    stream, other = f"{videos}/intro/index.m3u8", f"{demo.media_url}/users/bob/match/index.m3u8"
    results = []

    def step(name: str, ok: bool, detail: str) -> None:
        results.append(ok)
        say(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}")

    status, headers, _, _ = browser.request(stream)
    step("unsigned request to the edge", status == 403, _edge_answer(status, headers))
    browser.request(f"{demo.app_url}/login", "POST", {"user": "alice"})
    status, _, set_cookies, _ = browser.request(f"{demo.app_url}/videos")
    handed = sorted(c.split("=")[0] for c in set_cookies if c.startswith("CloudFront-"))
    step("app page hands out cookies", status == 200 and bool(handed), f"{status}, {handed}")
    status, headers, _, playlist = browser.request(stream, headers={"Origin": demo.app_url})
    is_playlist = status == 200 and playlist.startswith(b"#EXTM3U")
    segments = re.findall(rb"^[^#\s][^\r\n]*", playlist, re.MULTILINE) if is_playlist else []
    cors = headers.get("Access-Control-Allow-Origin") == demo.app_url
    step(
        "edge serves the HLS playlist to the page's origin",
        is_playlist and bool(segments) and cors,
        f"{_edge_answer(status, headers)}; {len(segments)} segments; CORS for "
        f"{headers.get('Access-Control-Allow-Origin', 'no origin')}",
    )
    bad = []
    for segment in segments:
        status, _, _, data = browser.request(f"{videos}/intro/{segment.decode()}")
        if status != 200 or data[:1] != b"\x47" or data[188:189] != b"\x47":  # TS sync bytes
            bad.append(f"{segment.decode()}: {status}")
    ok = bool(segments) and not bad
    step("edge serves every segment (MPEG-TS)", ok, ", ".join(bad) or f"{len(segments)} served")
    status, headers, _, data = browser.request(f"{videos}/intro.mp4")
    mp4 = status == 200 and data[4:8] == b"ftyp"
    step("edge serves the MP4", mp4, _edge_answer(status, headers))
    browser.request(f"{demo.app_url}/users/alice/library")  # her own grant, under /users/
    status, headers, _, _ = browser.request(other)
    step("edge refuses another user's stream", status == 403, _edge_answer(status, headers))
    status, _, _, _ = browser.request(f"{demo.app_url}{REFRESH_PATH}")
    step("the refresh route answers a playing page", status == 204, str(status))
    browser.request(f"{demo.app_url}/logout", "POST")
    status, headers, _, _ = browser.request(stream)
    step("after logout the edge refuses again", status == 403, _edge_answer(status, headers))
    return all(results)


def _edge_answer(status: int, headers: dict[str, str]) -> str:
    return f"{status} {headers.get('X-Cfcookie-Reason', '')}".strip()


def instructions(demo: Demo) -> str:
    """What to open and click, printed when the demo starts."""
    return f"""
cfcookie demo: an example app with the middleware, and a local CloudFront in front of media.

  app:   {demo.app_url}/login    (log in as alice, then play the videos and your library)
  edge:  {demo.media_url}/videos/intro/index.m3u8    (before logging in: 403 MissingKey)

Each request to the edge is logged below with CloudFront's decision and the reason: the HLS
playlist, then its segments. The pages play the stream natively where the browser can (Safari,
recent Chrome) and the MP4 elsewhere; set HLS_JS_URL to an hls.js build to play it with hls.js.
Try {demo.media_url}/users/bob/match.mp4 as alice (403: outside alice's policy), then log out.
What you see, page by page: {DOCS_URL}getting-started/#the-demo
Ctrl-C stops both servers."""


def configure_logging() -> None:
    """The edge's decisions (and the middleware's warnings) on stderr, one line each."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
