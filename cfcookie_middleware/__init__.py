"""CloudFront signed cookies and signed URLs for Python web apps.

The package root imports no web framework: adapters live in ``cfcookie_middleware.flask``,
``cfcookie_middleware.asgi`` (Starlette, FastAPI, any ASGI app), ``cfcookie_middleware.django``
and ``cfcookie_middleware.wsgi``.
The public names below load their module on first use, so that importing a submodule (as the
``cfcookie`` command does) pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfcookie_middleware.core import CookieCore
    from cfcookie_middleware.grants import grant
    from cfcookie_middleware.request import RequestView
    from cfcookie_middleware.rules import Rule
    from cfcookie_middleware.signing import ConfigurationError, Policy, Signer
    from cfcookie_middleware.verify import Decision, Verifier

__all__ = [
    "ConfigurationError",
    "CookieCore",
    "Decision",
    "Policy",
    "RequestView",
    "Rule",
    "Signer",
    "Verifier",
    "grant",
]
__version__ = "0.1.0"
DOCS_URL = "https://cfcookie-middleware.readthedocs.io/en/latest/"
"""The documentation site (``site_url`` in mkdocs.yml); the demo links its pages into it."""

_HOMES = {
    "ConfigurationError": "signing",
    "CookieCore": "core",
    "Decision": "verify",
    "Policy": "signing",
    "RequestView": "request",
    "Rule": "rules",
    "Signer": "signing",
    "Verifier": "verify",
    "grant": "grants",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cfcookie_middleware' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"cfcookie_middleware.{home}"), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return [*__all__, "DOCS_URL", "__version__"]
