"""The example site on Starlette: ``uvicorn --factory examples.starlette_app:create_app`` or
``python -m examples.starlette_app`` (settings from the environment: see
``cfcookie_middleware.demo.site``).

The login lives in Starlette's signed session cookie (``SessionMiddleware``, the outer
middleware, so ``scope["session"]`` is there when the CloudFront middleware's ``when`` runs).
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from cfcookie_middleware import RequestView, Signer
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware
from cfcookie_middleware.demo.site import (
    REFRESH_PATH,
    form_user,
    library_page,
    load_settings,
    login_page,
    port,
    videos_page,
)

__all__ = ["create_app"]


def logged_in(view: RequestView) -> bool:
    """The middleware's ``when``: CloudFront cookies only for a logged-in session."""
    return "user" in view.native.get("session", {})


def create_app(signer: Signer | None = None, **overrides: Any) -> Starlette:
    """The app, configured from the environment; ``overrides`` replace ``Settings`` fields."""
    settings = load_settings(**overrides)

    async def home(request: Request) -> Response:
        return RedirectResponse("/videos" if "user" in request.session else "/login", 303)

    async def login_form(request: Request) -> Response:
        return HTMLResponse(login_page())

    async def login(request: Request) -> Response:
        user = form_user(await request.body())
        if user is None:
            return HTMLResponse(login_page(failed=True), 401)
        request.session.clear()
        request.session["user"] = user
        return RedirectResponse("/videos", 303)

    async def videos(request: Request) -> Response:
        if "user" not in request.session:
            return RedirectResponse("/login", 303)
        page = videos_page(request.session["user"], settings.media_url, refresh=settings.refresh)
        return HTMLResponse(page)

    async def refresh(request: Request) -> Response:
        """Called by a playing page: the middleware adds a fresh set when one is due."""
        return Response(status_code=204 if "user" in request.session else 401)

    async def library(request: Request) -> Response:
        if "user" not in request.session:
            return RedirectResponse("/login", 303)
        user_id = request.path_params["user_id"]
        if request.session["user"] != user_id:
            raise HTTPException(403)
        return HTMLResponse(library_page(user_id, settings.media_url))

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", 303)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login_form),
            Route("/login", login, methods=["POST"]),
            Route("/videos", videos),
            Route(REFRESH_PATH, refresh),
            Route("/users/{user_id}/library", library),
            Route("/logout", logout, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                https_only=settings.secure,
                same_site="lax",
            ),
            Middleware(
                CloudFrontCookieMiddleware,
                signer=signer or Signer.from_env(),
                when=logged_in,
                **settings.middleware_options(),
            ),
        ],
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(), host="127.0.0.1", port=port())
