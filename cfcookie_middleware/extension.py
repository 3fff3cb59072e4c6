"""What the Flask and Quart extensions share: the core built from keywords and ``app.config``.

Options come from keyword arguments or from ``app.config["CLOUDFRONT_COOKIES_<OPTION>"]``; a
keyword wins. Without a ``signer`` the key comes from the environment (``Signer.from_env()``),
as for the Django middleware. Every error surfaces at ``init_app``, as ``ConfigurationError``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.options import CookieOptions, check_names
from cfcookie_middleware.signing import ConfigurationError, Signer

__all__ = ["CONFIG_PREFIX", "EXTENSION", "App", "core_for"]

CONFIG_PREFIX = "CLOUDFRONT_COOKIES_"
EXTENSION = "cfcookie"
"""The key of ``app.extensions`` that holds the core (assign its ``signer`` to rotate keys)."""


class App(Protocol):
    """What both frameworks' apps offer an extension."""

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
