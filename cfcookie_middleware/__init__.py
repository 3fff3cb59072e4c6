"""CloudFront signed cookies and signed URLs for Python web apps.

The package root imports no web framework: adapters live in ``cfcookie_middleware.flask``,
``cfcookie_middleware.starlette`` and ``cfcookie_middleware.wsgi``.
"""

from cfcookie_middleware.signing import ConfigurationError, Policy, Signer

__all__ = ["ConfigurationError", "Policy", "Signer"]
__version__ = "0.1.0"
