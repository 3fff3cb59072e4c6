"""The example's views: log in, the videos, one's own library, log out.

Which pages hand out CloudFront cookies is not decided here: the middleware's rules map
``/videos`` and ``/users/{user_id}/library`` to media prefixes, and it adds cookies when one of
these pages succeeds for a logged-in session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.views.decorators.http import require_http_methods

from cfcookie_middleware.demo.site import library_page, login_page, login_user, videos_page

View = TypeVar("View", bound=Callable[..., HttpResponse])


def allow(*methods: str) -> Callable[[View], View]:
    """Django's ``require_http_methods`` (405 for other methods), typed for mypy."""
    decorator: Callable[[View], View] = require_http_methods(list(methods))
    return decorator


def see_other(url: str) -> HttpResponse:
    """A redirect the browser follows with GET, also after a form post."""
    return HttpResponseRedirect(url, status=303)


def session_user(request: HttpRequest) -> str | None:
    return login_user(request.session.get("user"))


def media_url() -> str:
    return str(settings.MEDIA_URL).rstrip("/")


@allow("GET")
def home(request: HttpRequest) -> HttpResponse:
    return see_other("/videos" if session_user(request) else "/login")


@allow("GET", "POST")
def login(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return HttpResponse(login_page())
    user = login_user(request.POST.get("user"))
    if user is None:
        return HttpResponse(login_page(failed=True), status=401)
    request.session.flush()
    request.session["user"] = user
    return see_other("/videos")


@allow("GET")
def videos(request: HttpRequest) -> HttpResponse:
    user = session_user(request)
    if user is None:
        return see_other("/login")
    return HttpResponse(videos_page(user, media_url(), refresh=settings.VIDEO_REFRESH))


@allow("GET")
def refresh(request: HttpRequest) -> HttpResponse:
    """Called by a playing page: the middleware adds a fresh set when one is due."""
    return HttpResponse(status=204 if session_user(request) else 401)


@allow("GET")
def library(request: HttpRequest, user_id: str) -> HttpResponse:
    user = session_user(request)
    if user is None:
        return see_other("/login")
    if user != user_id:
        return HttpResponseForbidden("Forbidden")
    return HttpResponse(library_page(user, media_url()))


@allow("POST")
def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return see_other("/login")
