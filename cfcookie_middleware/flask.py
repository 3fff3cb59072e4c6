"""Flask extension: ``CloudFrontCookies(app, signer=..., rules=...)`` or ``init_app(app)``.

It wraps ``app.wsgi_app`` with the WSGI adapter, so it sees the final response, including the
ones Flask's error handlers made, and gives ``when`` and callable resources ``flask.request`` as
``RequestView.native``. Options come from keyword arguments or from
``app.config["CLOUDFRONT_COOKIES_<OPTION>"]``; a keyword wins. Without a ``signer`` the key comes
from the environment (``Signer.from_env()``), as for the Django middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.flask needs Flask: pip install "cfcookie-middleware[flask]"'
    ) from exc

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.options import CookieOptions, check_names, spelled_out
from cfcookie_middleware.routes import checked_wsgi
from cfcookie_middleware.signing import ConfigurationError, Signer
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

__all__ = ["CONFIG_PREFIX", "CloudFrontCookies"]

CONFIG_PREFIX = "CLOUDFRONT_COOKIES_"


class _FlaskMiddleware(CloudFrontCookieMiddleware):
    def __init__(self, app: WSGIApplication, core: CookieCore) -> None:  # the extension's core
        self.core = core
        self.app = checked_wsgi(self, app)  # blueprints are registered by the first request

    def native(self, environ: WSGIEnvironment) -> Any:
        """The ``flask.Request`` Flask made for this environ (Werkzeug records it there)."""
        return environ.get("werkzeug.request", environ)


class CloudFrontCookies:
    """The Flask extension; the core it builds is ``app.extensions["cfcookie"]``."""

    @spelled_out
    def __init__(self, app: flask.Flask | None = None, **options: Unpack[CookieOptions]) -> None:
        check_names(options)
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Build the core from config and keywords (errors surface now) and wrap the app."""
        if "cfcookie" in app.extensions:
            raise ConfigurationError("CloudFrontCookies: init_app was already called for this app")
        configured = {
            key.removeprefix(CONFIG_PREFIX).lower(): value
            for key, value in app.config.items()
            if key.startswith(CONFIG_PREFIX)
        }
        check_names(configured, spelled=lambda name: f"app.config[{CONFIG_PREFIX}{name.upper()}]")
        options = {**configured, **self.options}
        if "signer" not in options:  # as the Django middleware: the key from the environment
            options["signer"] = Signer.from_env()
        core = CookieCore(**options)
        app.wsgi_app = _FlaskMiddleware(app.wsgi_app, core=core)  # type: ignore[method-assign]
        app.extensions["cfcookie"] = core
