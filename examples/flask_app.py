"""The example site on Flask: ``flask --app examples.flask_app run`` or ``python -m
examples.flask_app`` (settings from the environment: see ``cfcookie_middleware.demo.site``).

The login lives in Flask's own signed ``session``; the middleware's ``when`` reads it too, since
the request context is still pushed while the response starts.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
from werkzeug.wrappers import Response

from cfcookie_middleware import RequestView, Signer
from cfcookie_middleware.demo.site import (
    REFRESH_PATH,
    library_page,
    load_settings,
    login_page,
    login_user,
    port,
    videos_page,
)
from cfcookie_middleware.flask import CloudFrontCookies

__all__ = ["create_app"]


def logged_in(view: RequestView) -> bool:
    """The middleware's ``when``: CloudFront cookies only for a logged-in session."""
    return "user" in flask.session


def create_app(signer: Signer | None = None, **overrides: Any) -> flask.Flask:
    """The app, configured from the environment; ``overrides`` replace ``Settings`` fields."""
    settings = load_settings(**overrides)
    app = flask.Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_SECURE=settings.secure,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    CloudFrontCookies(
        app,
        signer=signer or Signer.from_env(),
        when=logged_in,
        **settings.middleware_options(),
    )

    @app.get("/")
    def home() -> Response:
        return flask.redirect("/videos" if "user" in flask.session else "/login", 303)

    @app.get("/login")
    def login_form() -> str:
        return login_page()

    @app.post("/login")
    def login() -> Response | tuple[str, int]:
        user = login_user(flask.request.form.get("user"))
        if user is None:
            return login_page(failed=True), 401
        flask.session.clear()
        flask.session["user"] = user
        return flask.redirect("/videos", 303)

    @app.get("/videos")
    def videos() -> Response | str:
        if "user" not in flask.session:
            return flask.redirect("/login", 303)
        return videos_page(flask.session["user"], settings.media_url, refresh=settings.refresh)

    @app.get(REFRESH_PATH)
    def refresh() -> tuple[str, int]:
        """Called by a playing page: the middleware adds a fresh set when one is due."""
        return ("", 204) if "user" in flask.session else ("Log in", 401)

    @app.get("/users/<user_id>/library")
    def library(user_id: str) -> Response | str:
        if "user" not in flask.session:
            return flask.redirect("/login", 303)
        if flask.session["user"] != user_id:
            flask.abort(403)
        return library_page(user_id, settings.media_url)

    @app.post("/logout")
    def logout() -> Response:
        flask.session.clear()
        return flask.redirect("/login", 303)

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    create_app().run(host="127.0.0.1", port=port())
