"""The example site on Django, in the classic CloudFront shape: pages on ``www.mydomain.com``
hand out cookies for the media on ``media.mydomain.com``, with ``Domain=.mydomain.com`` so the
browser sends them there.

Run it from the repository root::

    export CLOUDFRONT_KEY_PAIR_ID=K2JCJMDEHXQW5F CLOUDFRONT_PRIVATE_KEY_FILE=private_key.pem
    export COOKIE_SECURE=0    # plain http; leave it out behind https
    DJANGO_SETTINGS_MODULE=examples.django_app.settings python -m django runserver

then browse to http://www.mydomain.com:8000/ after mapping the names to loopback in /etc/hosts
(``127.0.0.1 www.mydomain.com media.mydomain.com``); ``cfcookie edge`` can stand in for the
distribution (``--public-url`` names the one its policies name). The environment is that of the
other examples (``cfcookie_middleware.demo.site``); ``MEDIA_URL`` and ``COOKIE_DOMAIN`` default to
``https://media.mydomain.com`` and ``.mydomain.com``. No database: the login lives in Django's
signed-cookie session.
"""

from __future__ import annotations

import os

from cfcookie_middleware import RequestView
from cfcookie_middleware.demo.site import load_settings

example = load_settings(
    {"MEDIA_URL": "https://media.mydomain.com", "COOKIE_DOMAIN": ".mydomain.com", **os.environ}
)


def logged_in(view: RequestView) -> bool:
    """The middleware's ``when``: CloudFront cookies only for a logged-in session."""
    return "user" in view.native.session


SECRET_KEY = example.secret_key
DEBUG = False
ALLOWED_HOSTS = ["www.mydomain.com"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # No CsrfViewMiddleware, as in the other examples: the session cookie is SameSite=Lax, so a
    # cross-site form post arrives logged out. A real site adds it and {% csrf_token %}.
    "cfcookie_middleware.django.CloudFrontCookieMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_SECURE = example.secure
SESSION_COOKIE_SAMESITE = "Lax"
MEDIA_URL = example.media_url + "/"
CLOUDFRONT_COOKIES = {**example.middleware_options(), "when": logged_in}  # signer: from the env
VIDEO_REFRESH = example.refresh  # the route a playing videos page calls, and how often
