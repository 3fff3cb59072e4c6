"""What the Flask and Quart extensions share: the core built from keywords and ``app.config``,
and the ``grant`` decorator.

Options come from keyword arguments or from ``app.config["CLOUDFRONT_COOKIES_<OPTION>"]``; a
keyword wins. Without a ``signer`` the key comes from the environment (``Signer.from_env()``),
as for the Django middleware. Every error surfaces at ``init_app``, as ``ConfigurationError``.
A grant named at a view is checked when it is declared, against every app the extension serves
(at ``init_app`` for the apps made later).
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.grant_checks import mark_slip
from cfcookie_middleware.grants import Grant, GrantOptions
from cfcookie_middleware.options import CookieOptions, check_names
from cfcookie_middleware.rules import ResourceSource
from cfcookie_middleware.signing import ConfigurationError, Signer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CONFIG_PREFIX",
    "EXTENSION",
    "App",
    "GrantingExtension",
    "context_session",
    "core_for",
    "replace_headers",
    "request_core",
]

View = TypeVar("View", bound=Callable[..., Any])

CONFIG_PREFIX = "CLOUDFRONT_COOKIES_"
EXTENSION = "cfcookie"
"""The key of ``app.extensions`` that holds the core (assign its ``signer`` to rotate keys)."""


class App(Protocol):
    """What both frameworks' apps offer an extension."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def extensions(self) -> MutableMapping[str, Any]: ...


def core_for(app: App, options: CookieOptions) -> CookieCore:
    """The core for ``app``, from its config and ``options``, recorded in its extensions;
    ``init_app`` twice for one app is refused."""
    if EXTENSION in app.extensions:
        raise ConfigurationError("CloudFrontCookies: init_app was already called for this app")
    configured = {
        key.removeprefix(CONFIG_PREFIX).lower(): value
        for key, value in app.config.items()
        if key.startswith(CONFIG_PREFIX)
    }
    check_names(configured, spelled=lambda name: f"app.config[{CONFIG_PREFIX}{name.upper()}]")
    merged: dict[str, Any] = {**configured, **options}
    if "signer" not in merged:  # as the Django middleware: the key from the environment
        merged["signer"] = Signer.from_env()
    core = app.extensions[EXTENSION] = CookieCore(**merged)
    return core


class GrantingExtension(ABC):
    """What both extensions' objects share: the options, and the grants their views name."""

    def __init__(self, options: CookieOptions) -> None:
        check_names(options)
        self.options = options
        self._grants: dict[Grant, None] = {}  # an app factory decorates anew per app
        self._cores: weakref.WeakSet[CookieCore] = weakref.WeakSet()

    def _core(self, app: App) -> CookieCore:
        """``core_for(app)``, with the grants declared so far checked against it."""
        core = core_for(app, self.options)
        for declared in self._grants:  # the views decorated before
            core.check_grant(declared)
        self._cores.add(core)
        return core

    def grant(
        self, resource: ResourceSource, **terms: Unpack[GrantOptions]
    ) -> Callable[[View], View]:
        """A view decorator: the view's successful responses to an allowed method get cookies
        for ``resource``, a template filled from the view's URL parameters (or a callable
        taking the request view), with ``Rule``'s options (``ttl``, ``cookie_path``...).

        Put it below ``@app.route`` (which registers what it is given: above it, the view
        runs without its grant, and the app's first request logs a warning). The view runs
        (sync or async), its answer becomes a response, and the app's core finishes it inside
        the request context, as it finishes a rule's. Checked now, and against each app this
        extension serves (at ``init_app`` for apps made later); an app without the extension is
        an error on the view's first request.
        """
        declared = Grant(resource, **terms)
        for core in self._cores:
            core.check_grant(declared)
        self._grants[declared] = None

        def decorate(view: View) -> View:
            declared.check_view(view)
            granting = self._granting(view, declared)
            # Marked after functools.wraps copied its __dict__: the wrapper is not. Registered
            # as a view, the original means the decorator was above the route's.
            mark_slip(
                view,
                f"{declared.where} is above the route's decorator, which registered the view "
                "without it; put @cloudfront.grant below @app.route",
            )
            return granting

        mark_slip(
            decorate,
            f"the decorator {declared.where} is the view: did you write @cloudfront.grant "
            "without (resource)? Write @cloudfront.grant(resource) below @app.route",
        )
        return decorate

    @abstractmethod
    def _granting(self, view: View, declared: Grant) -> View:
        """``view``, wrapped (``functools.wraps``) to finish its response for ``declared``."""


def request_core(framework: ModuleType, declared: Grant) -> CookieCore:
    """The core of the app serving the current request of ``framework`` (``flask`` or
    ``quart``), for a grant at the view."""
    if not framework.has_request_context():
        raise ConfigurationError(
            f"{declared.where}: no {framework.__name__.title()} request is active; call grant() "
            "in a view, on the response it returns"
        )
    app: App = framework.current_app
    core = app.extensions.get(EXTENSION)
    if not isinstance(core, CookieCore):
        raise ConfigurationError(
            f"{declared.where}: the app {app.name!r} has no CloudFrontCookies; build it with "
            "CloudFrontCookies(app, ...) or call init_app(app), which holds the options"
        )
    return core


def context_session(framework: ModuleType) -> Mapping[str, Any] | None:
    """``framework.session`` (``flask`` or ``quart``) in a request context, else ``None``."""
    if not framework.has_request_context():
        return None
    found: Mapping[str, Any] = framework.session._get_current_object()
    return found


def replace_headers(response: Any, replaced: Iterable[tuple[str, str]] | None) -> None:
    """Give a Flask or Quart response (Werkzeug ``Headers``) the core's headers, if any."""
    if replaced is not None:
        response.headers.clear()
        response.headers.extend(replaced)
