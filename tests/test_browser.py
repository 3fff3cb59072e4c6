"""The example apps and the local edge, end to end in headless Chromium.

A real browser is the only judge of whether the cookies work: it decides which cookies it keeps
(``Domain``, ``Secure``), which it sends to the media host (``Domain``, ``SameSite``), and what page
scripts may read (``HttpOnly``). The app runs on ``https://app.example.test`` and the edge, the
CloudFront stand-in, on ``https://media.example.test``: two hosts of one site, as in production.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser_helpers import (
    APP_HOST,
    CHROMIUM,
    CHROMIUM_FLAGS,
    MEDIA_HOST,
    SITE,
    free_socket,
    make_certificate,
    serve_asgi,
    serve_wsgi,
    spki_sha256,
)
from conftest import SelfSignedCertificate, require, require_executable, serving
from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import Signer
from cfcookie_middleware.demo import media_files

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request, Response

KEY_ID = "K2JCJMDEHXQW5F"
FRAMEWORKS = ("flask", "starlette", "wsgi")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
POSTER_SIZE = (160, 90)  # the shipped clip's poster, a JPEG
# What the examples link to (cfcookie_middleware.demo.site.VIDEOS and LIBRARIES): the demo's clip.
MEDIA_FILES = media_files()
# Custom-policy cookies (CloudFront docs, "Set signed cookies using a custom policy"): the
# examples' resources end in "*", and an RSA key signs with SHA-1, so no Hash-Algorithm cookie.
CUSTOM_POLICY_COOKIES = {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
IMAGE_WIDTH = """async (src) => {
    const img = document.createElement("img");
    const done = new Promise((resolve) => { img.onload = img.onerror = resolve; });
    img.src = src;
    document.body.append(img);
    await done;
    return img.naturalWidth;
}"""
"""Add an ``<img>`` to the page and wait for it: its natural width is 0 unless it loaded."""


@dataclass(frozen=True)
class Site:
    framework: str
    url: str
    media: str

    def login(self, page: Page, user: str) -> None:
        """Log in through the form, as a person would; the app redirects to ``/videos``."""
        page.goto(f"{self.url}/login")
        page.select_option("select[name=user]", user)
        with page.expect_response(f"{self.url}/videos") as videos:
            page.get_by_role("button", name="Log in").click()
        assert videos.value.status == 200
        page.wait_for_load_state()

    def logout(self, page: Page) -> None:
        with page.expect_response(f"{self.url}/login"):
            page.get_by_role("button", name="Log out").click()
        page.wait_for_load_state()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def chromium(certificate: SelfSignedCertificate) -> Iterator[Browser]:
    require_executable(CHROMIUM)
    require(
        importlib.util.find_spec("playwright") is not None,
        "playwright is not installed (pip install playwright; it drives the system Chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Trust exactly this test's certificate, not every certificate.
            args=[
                *CHROMIUM_FLAGS,
                f"--ignore-certificate-errors-spki-list={spki_sha256(certificate)}",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: an empty cookie jar."""
    context = chromium.new_context()
    context.set_default_timeout(10_000)  # fail in seconds, not Playwright's 30 s per step
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab whose every request reaches the servers. The edge, like S3 behind CloudFront, sends
    no Cache-Control, so Chromium would reuse a poster it fetched seconds ago (heuristic
    freshness from Last-Modified) even after the cookies changed, and the edge would never see
    the request."""
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")
    devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})
    return page


@pytest.fixture(scope="module")
def signer(rsa2048: rsa.RSAPrivateKey) -> Signer:
    return Signer(KEY_ID, rsa2048)


@pytest.fixture(scope="module")
def media(
    tmp_path_factory: pytest.TempPathFactory,
    certificate: SelfSignedCertificate,
    rsa2048: rsa.RSAPrivateKey,
) -> Iterator[str]:
    """The edge, trusting the signer's public key, serving the media files; yields its URL."""
    from cfcookie_middleware.edge import Edge, serve

    root = tmp_path_factory.mktemp("media")
    copy_media(root)
    edge = Edge(root, {KEY_ID: rsa2048.public_key()})
    with serving(serve(edge, ssl_context=certificate.server_context())) as port:
        yield f"https://{MEDIA_HOST}:{port}"


def copy_media(root: Path) -> None:
    for name, source in MEDIA_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / name)


@contextmanager
def running(
    framework: str, signer: Signer, media: str, certificate: SelfSignedCertificate, **overrides: Any
) -> Iterator[Site]:
    """An example app over TLS, configured as a production deployment would be."""
    module = importlib.import_module(f"examples.{framework}_app")
    settings = {"media_url": media, "cookie_domain": f".{SITE}", "secure": True, **overrides}
    app = module.create_app(signer, **settings)
    serve = serve_asgi if framework == "starlette" else serve_wsgi
    with serve(app, certificate) as port:
        yield Site(framework, f"https://{APP_HOST}:{port}", media)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


# Tests list a site before ``context``, so the browser (and its keep-alive connections) is closed
# before the server stops: uvicorn waits for open connections before it exits.
@pytest.fixture
def site(
    framework: str, signer: Signer, media: str, certificate: SelfSignedCertificate
) -> Iterator[Site]:
    with running(framework, signer, media, certificate) as production:
        yield production


@pytest.fixture
def host_only_site(
    framework: str, signer: Signer, media: str, certificate: SelfSignedCertificate
) -> Iterator[Site]:
    """The classic mistake: no cookie domain, so the cookies stay on the app's host."""
    with running(framework, signer, media, certificate, cookie_domain=None) as host_only:
        yield host_only


def cloudfront_cookies(context: BrowserContext) -> dict[str, dict[str, Any]]:
    """The browser's ``CloudFront-*`` cookies, name -> Playwright's cookie record."""
    return {
        cookie["name"]: dict(cookie)
        for cookie in context.cookies()
        if cookie["name"].startswith("CloudFront-")
    }


def refusal(response: Response | None, code: str) -> Response:
    """Assert the edge refused with CloudFront's status and error code."""
    assert response is not None
    assert response.status == 403, response.url
    assert f"<Code>{code}</Code>" in response.text(), response.text()
    return response


def test_cookies_open_the_media_for_the_logged_in_viewer_only(
    site: Site, context: BrowserContext, page: Page
) -> None:
    intro = f"{site.media}/videos/intro.mp4"
    refusal(page.goto(intro), "MissingKey")

    # Each poster's status, or why it failed: Chromium's Opaque Response Blocking turns a refused
    # image (a 403 with an XML body) into net::ERR_BLOCKED_BY_ORB, so the page never sees a 403.
    posters: dict[str, int | str | None] = {}

    def record_poster(response: Response) -> None:
        if response.url.endswith(".jpg"):
            posters[response.url] = response.status

    def record_failure(request: Request) -> None:
        if request.url.endswith(".jpg"):
            posters[request.url] = request.failure

    page.on("response", record_poster)
    page.on("requestfailed", record_failure)
    site.login(page, "alice")
    page.wait_for_load_state("networkidle")
    # The posters the page itself shows, fetched by the browser with the new cookies...
    assert posters == {
        f"{site.media}/videos/intro.jpg": 200,
        f"{site.media}/videos/keynote.jpg": 200,
    }
    # ...and decoded as images.
    assert page.evaluate(IMAGE_WIDTH, f"{site.media}/videos/keynote.jpg") == POSTER_SIZE[0]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{site.framework}-videos.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    # Page scripts cannot read them; the browser keeps them as the middleware set them.
    assert "CloudFront-" not in page.evaluate("document.cookie")
    cookies = cloudfront_cookies(context)
    assert set(cookies) == CUSTOM_POLICY_COOKIES
    assert cookies["CloudFront-Key-Pair-Id"]["value"] == KEY_ID
    for name, cookie in cookies.items():
        assert cookie["domain"] in (f".{SITE}", SITE), name
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Lax")
        # The catalogue rule's own path; a session cookie.
        assert (cookie["path"], cookie["expires"]) == ("/videos", -1), name

    # A top-level navigation to the media host carries them too. (An image, not a video: for a
    # media document Chromium streams the body, and Playwright's body() never returns.)
    direct = page.goto(f"{site.media}/videos/intro.jpg")
    assert direct is not None
    assert (direct.status, direct.body()) == (200, MEDIA_FILES["videos/intro.jpg"].read_bytes())
    # Outside the catalogue's cookie path (/videos) the browser sends nothing: MissingKey.
    refusal(page.goto(f"{site.media}/users/bob/match.mp4"), "MissingKey")

    page.goto(f"{site.url}/videos")
    site.logout(page)
    assert cloudfront_cookies(context) == {}
    refusal(page.goto(intro), "MissingKey")


def test_a_forbidden_page_hands_out_nothing(
    site: Site, context: BrowserContext, page: Page
) -> None:
    site.login(page, "alice")
    before = cloudfront_cookies(context)
    assert set(before) == CUSTOM_POLICY_COOKIES

    bobs = page.goto(f"{site.url}/users/bob/library")
    assert bobs is not None
    assert bobs.status == 403
    assert cloudfront_cookies(context) == before
    refusal(page.goto(f"{site.media}/users/bob/match.mp4"), "MissingKey")

    # Control: her own library does hand out cookies, for her files. A browser keeps one
    # CloudFront-* set per Domain and Path; the library rule has its own cookie path
    # (/users/), so the catalogue's set (/videos) stays and both grants work side by side.
    own = page.goto(f"{site.url}/users/alice/library")
    assert own is not None
    assert own.status == 200
    paths = {c["path"] for c in context.cookies() if c["name"] == "CloudFront-Policy"}
    assert paths == {"/videos", "/users/"}
    holiday = page.goto(f"{site.media}/users/alice/holiday.mp4")
    assert holiday is not None
    assert holiday.status == 200
    # Bob's files now get alice's /users/ set, which does not cover them.
    refusal(page.goto(f"{site.media}/users/bob/match.mp4"), "AccessDenied")
    poster = page.goto(f"{site.media}/videos/intro.jpg")
    assert poster is not None
    assert poster.status == 200


def test_host_only_cookies_never_reach_the_media_host(
    host_only_site: Site, context: BrowserContext, page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    """Domain=app.example.test, the same mistake spelled out, is a ConfigurationError when the
    middleware is built; leaving the domain out is only seen per request, as a log warning. The
    browser keeps the cookies but never sends them to the media host."""
    caplog.set_level(logging.WARNING, logger="cfcookie_middleware")
    host_only_site.login(page, "alice")
    cookies = cloudfront_cookies(context)
    assert set(cookies) == CUSTOM_POLICY_COOKIES
    assert {cookie["domain"] for cookie in cookies.values()} == {APP_HOST}
    poster = f"{host_only_site.media}/videos/intro.jpg"
    assert page.evaluate(IMAGE_WIDTH, poster) == 0
    refused = refusal(page.goto(poster), "MissingKey")
    assert "did not send the cookies" in refused.headers["x-cfcookie-reason"]
    assert f"cookies are host-only for {APP_HOST}" in caplog.text


# --- streaming: the demo's HLS clip, natively and through hls.js with credentials ---------------

HLS_JS = Path(__file__).resolve().parent / "js" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
PLAYER_PATH = "/hls.min.js"
PLAYED = 1.5  # seconds of media a test needs to see played
PLAY = """async ({seconds, timeout}) => {
    const video = document.querySelector("video");
    video.muted = true;  // Chromium lets a muted video play without a user gesture
    video.play().catch(() => {});
    const start = Date.now();
    for (;;) {
        // hls.js's fatal errors, as the page records them, or the element's own.
        const error = video.dataset.error ? `hls.js ${video.dataset.error}`
            : video.error ? `video error ${video.error.code}` : null;
        if (error || video.currentTime >= seconds || video.ended || Date.now() - start > timeout) {
            const late = error || video.currentTime >= seconds || video.ended ? null : "timeout";
            return {time: video.currentTime, error: error || late, src: video.currentSrc,
                    hls: Boolean(video.hls)};
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}"""
"""Play the page's first video; stop at ``seconds`` played, a fatal error or ``timeout`` ms."""
NEW_PLAYER = """({src, useHls}) => {
    for (const old of document.querySelectorAll("video")) old.remove();
    const video = document.createElement("video");
    document.body.prepend(video);
    if (useHls) {
        video.hls = new Hls({xhrSetup: (xhr) => { xhr.withCredentials = true; }});
        video.hls.on(Hls.Events.ERROR, (_, data) => {
            const status = data.response?.code ? ` (HTTP ${data.response.code})` : "";
            if (data.fatal) video.dataset.error = `${data.details}${status}`;
        });
        video.hls.loadSource(src);
        video.hls.attachMedia(video);
    } else {
        video.src = src;
    }
}"""
"""Replace the page's players with one for ``src``: native, or hls.js sending credentials, its
fatal errors recorded as the demo's pages record them."""


@dataclass(frozen=True)
class Stream:
    """The demo app and a CORS-enabled edge, and the edge's decisions as it logged them."""

    url: str
    media: str
    log: pytest.LogCaptureFixture

    def decisions(self, suffix: str = "") -> list[tuple[float, str, int, str]]:
        """(time, path, status, label) of each edge request whose path ends with ``suffix``."""
        return [
            (record.created, str(args[1]), int(str(args[2])), str(args[3]))
            for record in self.log.records
            if record.name == "cfcookie_middleware.edge"
            and isinstance(args := record.args, tuple)
            and str(args[1]).endswith(suffix)
        ]

    def login(self, page: Page, user: str) -> None:
        Site("wsgi", self.url, self.media).login(page, user)


def with_player(app: Any) -> Any:
    """The app, plus hls.js from npm at ``PLAYER_PATH`` on its own origin, as a site that
    bundles its player serves it."""
    player = HLS_JS.read_bytes()

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != PLAYER_PATH:
            return app(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/javascript")])
        return [player]

    return serve


@pytest.fixture(scope="module")
def stream_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream")
    copy_media(root)
    return root


@contextmanager
def streaming(
    signer: Signer,
    certificate: SelfSignedCertificate,
    root: Path,
    log: pytest.LogCaptureFixture,
    *,
    cors: bool = True,
    **overrides: Any,
) -> Iterator[Stream]:
    """The demo app (``examples.wsgi_app``) and the edge with ``--cors-origin`` for exactly
    the app's origin: the app's port is taken first so that the edge can name it."""
    from cfcookie_middleware.edge import Edge, serve

    require(HLS_JS.is_file(), f"{HLS_JS} is missing: npm ci --prefix tests/js")
    log.set_level(logging.INFO, logger="cfcookie_middleware.edge")
    with free_socket() as sock:
        url = f"https://{APP_HOST}:{sock.getsockname()[1]}"
        edge = Edge(root, {KEY_ID: signer.public_key}, cors_origins=[url] if cors else [])
        with serving(serve(edge, ssl_context=certificate.server_context())) as edge_port:
            media = f"https://{MEDIA_HOST}:{edge_port}"
            module = importlib.import_module("examples.wsgi_app")
            settings = {"cookie_domain": f".{SITE}", "secure": True, **overrides}
            app = module.create_app(signer, media_url=media, **settings)
            with serve_wsgi(with_player(app), certificate, sock):
                yield Stream(url, media, log)


def policy_expiry(context: BrowserContext, path: str = "/videos") -> int:
    """DateLessThan of the browser's CloudFront-Policy cookie at ``path``, decoded by hand
    (CloudFront's base64: ``-`` for ``+``, ``_`` for ``=``, ``~`` for ``/``)."""
    [value] = [
        cookie["value"]
        for cookie in context.cookies()
        if cookie["name"] == "CloudFront-Policy" and cookie["path"] == path
    ]
    text = base64.b64decode(value.translate(str.maketrans("-_~", "+=/")))
    expiry: int = json.loads(text)["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"]
    return expiry


@pytest.mark.parametrize("player", ["native", "hls.js"])
def test_hls_plays_once_the_app_has_set_the_cookies(
    signer: Signer,
    certificate: SelfSignedCertificate,
    stream_media: Path,
    caplog: pytest.LogCaptureFixture,
    context: BrowserContext,
    page: Page,
    player: str,
) -> None:
    """Natively (the page's own <video>, HLS before MP4), and through hls.js, which fetches the
    playlist and segments cross-origin with credentials: the edge's CORS answer lets it."""
    player_url = PLAYER_PATH if player == "hls.js" else None
    with streaming(signer, certificate, stream_media, caplog, player_url=player_url) as site:
        site.login(page, "alice")
        played = page.evaluate(PLAY, {"seconds": PLAYED, "timeout": 10_000})
        segments = site.decisions(".ts")
    assert played["error"] is None, played
    assert played["time"] >= PLAYED
    assert played["hls"] is (player == "hls.js")
    # Native HLS, not the MP4 fallback; hls.js feeds the element through Media Source.
    expected = f"{site.media}/videos/intro/index.m3u8" if player == "native" else "blob:"
    assert played["src"].startswith(expected), played
    # Served whole or, as Chromium's native player asks, by byte range.
    assert {status for _, _, status, _ in segments} <= {200, 206}
    assert len(segments) >= 2


def test_hls_js_with_credentials_fails_without_the_edges_cors(
    signer: Signer,
    certificate: SelfSignedCertificate,
    stream_media: Path,
    caplog: pytest.LogCaptureFixture,
    context: BrowserContext,
    page: Page,
) -> None:
    """The bug the issue reports: without --cors-origin the edge serves the playlist (200)
    and the browser hides it from hls.js."""
    with streaming(
        signer, certificate, stream_media, caplog, cors=False, player_url=PLAYER_PATH
    ) as site:
        site.login(page, "alice")
        played = page.evaluate(PLAY, {"seconds": PLAYED, "timeout": 10_000})
        playlists = site.decisions(".m3u8")
    # Status 0: the browser withheld the answer (no Access-Control-Allow-Origin).
    assert played["error"] == "hls.js manifestLoadError", played
    assert played["time"] == 0
    assert [status for _, _, status, _ in playlists][:1] == [200]


@pytest.mark.parametrize("use_hls", [False, True], ids=["native", "hls.js"])
def test_hls_is_refused_before_login_after_logout_and_for_another_user(
    signer: Signer,
    certificate: SelfSignedCertificate,
    stream_media: Path,
    caplog: pytest.LogCaptureFixture,
    context: BrowserContext,
    page: Page,
    use_hls: bool,
) -> None:
    with streaming(signer, certificate, stream_media, caplog, player_url=PLAYER_PATH) as site:
        intro = f"{site.media}/videos/intro/index.m3u8"
        bobs = f"{site.media}/users/bob/match/index.m3u8"

        def refused(src: str) -> set[tuple[int, str]]:
            """Play ``src`` on the current page; what the edge answered for it meanwhile."""
            if use_hls:
                page.add_script_tag(url=f"{site.url}{PLAYER_PATH}")
            before = len(site.decisions())
            page.evaluate(NEW_PLAYER, {"src": src, "useHls": use_hls})
            played = page.evaluate(PLAY, {"seconds": PLAYED, "timeout": 5_000})
            assert played["time"] == 0, played
            assert played["error"] is not None, played
            if use_hls:  # the edge's CORS headers let hls.js see CloudFront's 403
                assert played["error"] == "hls.js manifestLoadError (HTTP 403)", played
            path = src.removeprefix(site.media)
            return {
                (status, label) for _, at, status, label in site.decisions()[before:] if at == path
            }

        page.goto(f"{site.url}/login")
        assert refused(intro) == {(403, "MissingKey")}
        site.login(page, "alice")
        page.goto(f"{site.url}/users/alice/library")  # her own set, under /users/
        assert refused(bobs) == {(403, "AccessDenied")}
        page.goto(f"{site.url}/videos")
        Site("wsgi", site.url, site.media).logout(page)
        assert refused(intro) == {(403, "MissingKey")}


@pytest.mark.parametrize("refresh", [True, False], ids=["refreshed", "control-no-refresh"])
def test_playback_continues_past_the_first_cookies_expiry(
    signer: Signer,
    certificate: SelfSignedCertificate,
    stream_media: Path,
    caplog: pytest.LogCaptureFixture,
    context: BrowserContext,
    page: Page,
    refresh: bool,
) -> None:
    """Cookies for two seconds, a six-second clip fetched as it plays (hls.js with a two-second
    buffer): the page's refresh calls keep the segments coming after the first set expired.
    The control blocks the refresh route and playback stops at a refused segment."""
    ttl = timedelta(seconds=2)
    with streaming(
        signer, certificate, stream_media, caplog, player_url=PLAYER_PATH, ttl=ttl
    ) as site:
        if not refresh:
            page.route("**/videos/refresh", lambda route: route.abort())
        site.login(page, "alice")
        first = policy_expiry(context)
        played = page.evaluate(PLAY, {"seconds": 5.5, "timeout": 10_000})
        segments = site.decisions(".ts")
        last = policy_expiry(context)
    after = [(path, status) for at, path, status, _ in segments if at >= first]
    if refresh:
        assert played["error"] is None, played
        assert played["time"] >= 5.5
        assert last > first  # the browser holds a set issued after the first
        assert after, segments
        assert {status for _, status in after} <= {200, 206}, segments
    else:
        # hls.js stalls at the refused segment (the error is not always fatal).
        assert played["error"] in ("timeout", "hls.js fragLoadError (HTTP 403)"), played
        assert played["time"] < 5.5
        assert last == first
        assert "AccessDenied" in {label for at, _, _, label in segments if at >= first}, segments
