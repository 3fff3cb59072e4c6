"""The example site on FastAPI: ``uvicorn --factory examples.fastapi_app:create_app`` or
``python -m examples.fastapi_app`` (settings from the environment: see
``cfcookie_middleware.demo.site``).

The login lives in Starlette's signed session cookie; ``SessionMiddleware`` is added last, so it
is the outer middleware and ``scope["session"]`` is there when the CloudFront ``when`` runs.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

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


class LoginRequired(Exception):
    """Raised by ``current_user`` for an anonymous request; answered with a redirect."""


def logged_in(view: RequestView) -> bool:
    """The middleware's ``when``: CloudFront cookies only for a logged-in session."""
    return "user" in view.native.get("session", {})


def current_user(request: Request) -> str:
    user = request.session.get("user")
    if not isinstance(user, str):
        raise LoginRequired
    return user


User = Annotated[str, Depends(current_user)]


def create_app(signer: Signer | None = None, **overrides: Any) -> FastAPI:
    """The app, configured from the environment; ``overrides`` replace ``Settings`` fields."""
    settings = load_settings(**overrides)
    app = FastAPI(title="cfcookie-middleware example")
    app.add_middleware(
        CloudFrontCookieMiddleware,
        signer=signer or Signer.from_env(),
        when=logged_in,
        **settings.middleware_options(),
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        https_only=settings.secure,
        same_site="lax",
    )

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", 303)

    @app.get("/")
    async def home(user: User) -> Response:
        return RedirectResponse("/videos", 303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form() -> str:
        return login_page()

    @app.post("/login")
    async def login(request: Request) -> Response:
        user = form_user(await request.body())
        if user is None:
            return HTMLResponse(login_page(failed=True), 401)
        request.session.clear()
        request.session["user"] = user
        return RedirectResponse("/videos", 303)

    @app.get("/videos", response_class=HTMLResponse)
    async def videos(user: User) -> str:
        return videos_page(user, settings.media_url, refresh=settings.refresh)

    @app.get(REFRESH_PATH, status_code=204)
    async def refresh(request: Request) -> Response:
        """Called by a playing page: the middleware adds a fresh set when one is due."""
        return Response(status_code=204 if "user" in request.session else 401)

    @app.get("/users/{user_id}/library", response_class=HTMLResponse)
    async def library(user_id: str, user: User) -> str:
        if user != user_id:
            raise HTTPException(403)
        return library_page(user_id, settings.media_url)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", 303)

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(), host="127.0.0.1", port=port())
