"""CloudFront signed cookies and signed URLs for Python web apps.

The package root imports no web framework: adapters live in ``cfcookie_middleware.flask``,
``cfcookie_middleware.starlette`` and ``cfcookie_middleware.wsgi``.
"""

from cfcookie_middleware.core import CookieCore, RequestView
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
]
__version__ = "0.1.0"
