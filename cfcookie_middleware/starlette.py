"""The ASGI adapter under its first home; it lives in ``cfcookie_middleware.asgi`` now, which
needs no Starlette. This name stays, without a warning: Starlette and FastAPI apps use it."""

from cfcookie_middleware.asgi import CloudFrontCookieMiddleware, asgi_path

__all__ = ["CloudFrontCookieMiddleware", "asgi_path"]
