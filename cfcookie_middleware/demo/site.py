"""What the example apps share: settings from the environment, the catalogue and the pages.

The plain-WSGI one (``cfcookie_middleware.demo.app``) is the app ``cfcookie demo`` runs, so this
module ships in the package; the others (``examples/flask_app.py``, ``starlette_app.py``,
``fastapi_app.py`` and ``django_app/`` in the source repository) import it too. Each is the same
small site: log in, list the videos, open your own library, log out. The app decides who may see a
page; the middleware mirrors that decision onto the CDN by adding CloudFront cookies to the
pages' successful responses, so the browser can then fetch the media from ``MEDIA_URL``.

Environment (the same for a local demo and for production):

- ``CLOUDFRONT_KEY_PAIR_ID`` and ``CLOUDFRONT_PRIVATE_KEY`` or ``CLOUDFRONT_PRIVATE_KEY_FILE``:
  read by ``Signer.from_env()``.
- ``MEDIA_URL``: where the media is served, the CloudFront distribution
  (default ``http://localhost:8001``, a local stand-in).
- ``COOKIE_DOMAIN``: the cookies' Domain, a parent of the app's and the media's hosts such as
  ``.example.com`` (default: none, host-only, which works when both run on ``localhost``: cookies
  are not port-specific).
- ``COOKIE_SECURE``: ``1`` (default) or ``0`` for a plain-http local demo; it applies to the
  session cookie too.
- ``HLS_JS_URL``: where the pages load hls.js from, such as
  ``https://cdn.jsdelivr.net/npm/hls.js@1/dist/hls.min.js`` (default: none, so the demo works
  offline: the browser plays the HLS stream natively where it can, Safari and recent Chrome and
  Edge, else the MP4). With it, hls.js plays the stream and sends the cookies
  (``withCredentials``), which needs the edge's ``--cors-origin``.
- ``SECRET_KEY``: signs the session cookie (default: random per process, so a restart logs
  everyone out and several workers cannot share sessions: set it in production).
- ``PORT``: where ``python -m examples.<name>`` (or ``python -m cfcookie_middleware.demo.app``)
  listens on loopback (default 8000).
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from cfcookie_middleware import DOCS_URL
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import ConfigurationError

__all__ = [
    "LIBRARIES",
    "REFRESH_PATH",
    "VIDEOS",
    "Settings",
    "form_user",
    "library_page",
    "load_settings",
    "login_page",
    "login_user",
    "port",
    "videos_page",
]

VIDEOS = {"intro": "Getting started", "keynote": "Keynote"}
"""The shared catalogue, under ``{MEDIA_URL}/videos/``: each clip ``<name>`` is an HLS stream
``<name>/index.m3u8`` (its segments beside it), an MP4 ``<name>.mp4`` and a poster
``<name>.jpg``."""
LIBRARIES = {"alice": ("holiday", "recital"), "bob": ("match",)}
"""The users (no passwords: a demo) and their own clips, laid out as the catalogue's, under
``{MEDIA_URL}/users/<name>/``."""
MAX_FORM_BYTES = 4096
LOGOUT_FORM = '<form method="post" action="/logout"><button>Log out</button></form>'
REFRESH_PATH = "/videos/refresh"
"""The route a playing page calls to keep its cookies fresh: every example answers a logged-in
viewer there with 204 (and anyone else with 401), and a rule grants there what ``/videos``
grants, so the middleware re-signs the held set once it is within its refresh margin."""
EXPLAINED = DOCS_URL + "getting-started/#"
"""Where the documentation explains each demo page (the anchor is the page's)."""


@dataclass(frozen=True)
class Settings:
    """What the examples read from the environment; ``create_app(**overrides)`` replaces fields."""

    media_url: str
    cookie_domain: str | None
    secure: bool
    secret_key: str
    player_url: str | None = None
    ttl: timedelta = timedelta(hours=1)

    @property
    def refresh(self) -> tuple[str, timedelta]:
        """``videos_page``'s refresh: the route, and a call every quarter of the ttl, which
        lands inside the refresh margin (half the ttl)."""
        return REFRESH_PATH, self.ttl / 4

    def middleware_options(self) -> dict[str, Any]:
        """The middleware's options, without ``signer`` and ``when`` (those differ per app).

        The refresh route's rule grants what the catalogue's does, so the middleware re-signs
        the set the browser holds there once it is within its refresh margin (half the ttl), and
        a player keeps playing past the first cookies' expiry."""

        def catalogue(pattern: str) -> Rule:
            resource = f"{self.media_url}/videos/*"
            return Rule(pattern, resource=resource, cookie_path="/videos", ttl=self.ttl)

        return {
            # Each grant gets its own cookie path, so a browser holds both sets at once (one
            # policy per cookie): opening the library does not take the catalogue away.
            "rules": [
                catalogue("/videos"),
                catalogue(REFRESH_PATH),
                # {user_id} is the rule's template field, filled per request: not an f-string.
                Rule(
                    "/users/{user_id}/library",
                    resource=self.media_url + "/users/{user_id}/*",
                    cookie_path="/users/",
                ),
            ],
            "cookie_domain": self.cookie_domain,
            "secure": self.secure,
            "clear_on": ["/logout"],
        }


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """``Settings`` from ``environ`` (default ``os.environ``), then ``overrides`` on top."""
    env = os.environ if environ is None else environ
    secure = env.get("COOKIE_SECURE", "1")
    if secure not in ("0", "1"):
        raise ConfigurationError(
            f"COOKIE_SECURE: {secure[:20]!r} must be 1 (Secure cookies, for https) or 0 (for a "
            "plain-http local demo)"
        )
    settings = Settings(
        media_url=env.get("MEDIA_URL", "http://localhost:8001").rstrip("/"),
        cookie_domain=env.get("COOKIE_DOMAIN") or None,
        secure=secure == "1",
        secret_key=env.get("SECRET_KEY") or secrets.token_hex(32),
        player_url=env.get("HLS_JS_URL") or None,
    )
    return dataclasses.replace(settings, **overrides)


def port(environ: Mapping[str, str] | None = None) -> int:
    """The ``PORT`` to listen on when an example runs as a script."""
    value = (os.environ if environ is None else environ).get("PORT", "8000")
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigurationError(f"PORT: {value[:20]!r} must be a TCP port such as 8000")
    return int(value)


def login_user(name: str | None) -> str | None:
    """The user a login form names, if that user exists."""
    return name if name in LIBRARIES else None


def form_user(body: bytes) -> str | None:
    """The user of an ``application/x-www-form-urlencoded`` login body (for apps without a
    form parser: Starlette's needs python-multipart, which the examples do without)."""
    if len(body) > MAX_FORM_BYTES:
        return None
    fields = parse_qs(body.decode("latin-1"))
    return login_user(fields.get("user", [""])[0])


def login_page(failed: bool = False) -> str:
    error = '<p role="alert">Unknown user.</p>' if failed else ""
    options = "".join(f'<option value="{name}">{name}</option>' for name in LIBRARIES)
    return _page(
        "Log in",
        f'{error}<form method="post" action="/login"><label>User '
        f'<select name="user">{options}</select></label> <button>Log in</button></form>',
        logged_in=False,
        explained="demo-login",
    )


def videos_page(
    user: str,
    media_url: str,
    *,
    player_url: str | None = None,
    refresh: tuple[str, timedelta] | None = None,
) -> str:
    """The catalogue; every media URL on it is under ``{media_url}/videos/``.

    ``player_url`` loads hls.js to play the streams with credentials; ``refresh`` is the app's
    refresh route and how often a playing page calls it (well inside the refresh margin)."""
    base = f"{html.escape(media_url)}/videos"
    items = "".join(
        f"<li><h2>{html.escape(title)}</h2>{_clip(base, name)}</li>"
        for name, title in VIDEOS.items()
    )
    return _page(
        "Videos",
        f'<p>Hello {html.escape(user)}. <a href="/users/{html.escape(user)}/library">Your '
        f"library</a></p><ul>{items}</ul>{_scripts(player_url, refresh)}",
        explained="demo-videos",
    )


def library_page(user: str, media_url: str, *, player_url: str | None = None) -> str:
    """One user's clips; every media URL on it is under ``{media_url}/users/{user}/``."""
    base = f"{html.escape(media_url)}/users/{html.escape(user)}"
    items = "".join(
        f"<li><h2>{html.escape(name)}</h2>{_clip(base, name)}</li>" for name in LIBRARIES[user]
    )
    return _page(
        f"{html.escape(user)}'s library",
        f'<p><a href="/videos">All videos</a></p><ul>{items}</ul>{_scripts(player_url, None)}',
        explained="demo-library",
    )


def _clip(base: str, name: str) -> str:
    """A player for one clip: the browser picks the first source it can play (HLS natively in
    Safari and recent Chromium, else the MP4); hls.js, when the page loads it, takes the stream
    from ``data-hls``."""
    stream, mp4 = f"{base}/{name}/index.m3u8", f"{base}/{name}.mp4"
    return (
        f'<video controls playsinline preload="none" poster="{base}/{name}.jpg" '
        f'data-hls="{stream}"><source src="{stream}" type="application/vnd.apple.mpegurl">'
        f'<source src="{mp4}" type="video/mp4"></video> <a href="{mp4}">download</a>'
    )


PLAYER_SCRIPT = """
if (window.Hls && Hls.isSupported()) {
  for (const video of document.querySelectorAll("video[data-hls]")) {
    const hls = new Hls({
      // The CloudFront cookies go with every playlist and segment request (CORS credentials).
      xhrSetup: (xhr) => { xhr.withCredentials = true; },
      // A short forward buffer: segments are fetched as the clip plays (see the edge's log).
      maxBufferLength: 2,
      maxMaxBufferLength: 2,
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      const status = data.response?.code ? ` (HTTP ${data.response.code})` : "";
      video.dataset.error = `${data.details}${status}`;  // say why, on the page
      video.insertAdjacentText("afterend", ` Playback failed: ${video.dataset.error}.`);
    });
    hls.loadSource(video.dataset.hls);
    hls.attachMedia(video);
    video.hls = hls;
  }
}
"""
"""hls.js for every ``<video data-hls>``, when the page loaded hls.js and the browser has MSE."""

REFRESH_SCRIPT = """
const refreshCookies = (path, every) => {
  let timer = null;
  const playing = () => [...document.querySelectorAll("video")].some((v) => !v.paused);
  const call = () => fetch(path, {credentials: "same-origin", cache: "no-store"});
  document.addEventListener("play", () => { timer ??= setInterval(call, every); }, true);
  for (const event of ["pause", "ended"]) {
    document.addEventListener(event, () => {
      if (!playing()) { clearInterval(timer); timer = null; }
    }, true);
  }
};
"""
"""While any video plays, call the app's refresh route every ``every`` ms: the middleware
answers with a fresh set once the held one is within its refresh margin, nothing before."""


def _scripts(player_url: str | None, refresh: tuple[str, timedelta] | None) -> str:
    scripts = "" if player_url is None else f'<script src="{html.escape(player_url)}"></script>'
    scripts += f"<script>{PLAYER_SCRIPT}"
    if refresh is not None:
        path, every = refresh
        milliseconds = max(250, int(every.total_seconds() * 1000))
        scripts += f"{REFRESH_SCRIPT}refreshCookies({json.dumps(path)}, {milliseconds});"
    return scripts + "</script>"


def _page(title: str, body: str, *, explained: str, logged_in: bool = True) -> str:
    """A whole page, linking to where the documentation explains it (``explained``, an anchor of
    the getting-started page); ``title`` and ``body`` are HTML the caller escaped."""
    docs = f'<p><a href="{EXPLAINED}{explained}">What this page shows</a></p>'
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{body}{LOGOUT_FORM if logged_in else ''}{docs}</body></html>"
    )
