"""Grants named at Django views: ``@grant(...)`` from ``cfcookie_middleware.django`` (sync, async
and class-based views) and ``grant(response, ..., request=request)``, through Django's own test
clients; the contract in ``grant_contract`` plus what is Django's own. Settings as in
``test_django``: configured for this module only, layered per test with ``override_settings``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from conftest import configured_django
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from django.utils.decorators import method_decorator
from django.views import View
from grant_contract import (
    IMPERATIVE,
    LIBRARY,
    LIBRARY_TERMS,
    POSTER,
    POSTER_TTL,
    VIDEOS,
    Answer,
    Fetch,
    GrantContract,
    course_media,
)
from middleware_helpers import (
    APP_HOST,
    CLIENT_IP,
    MEDIA,
    Clock,
    assert_grants,
    header_values,
    make_signer,
    options,
)

from cfcookie_middleware import grant as grant_response
from cfcookie_middleware.django import CloudFrontCookieMiddleware, grant, shared_core
from cfcookie_middleware.signing import ConfigurationError

MIDDLEWARE = "cfcookie_middleware.django.CloudFrontCookieMiddleware"


# ---- the app: views decorated at import, before the settings exist -------------------------------
def answer_as_asked(request: HttpRequest) -> HttpResponse:
    """The view's own answer: ``?status=N`` with that status, ``?raise=N`` by raising."""
    raised = request.GET.get("raise")
    if raised == "500":
        raise RuntimeError("the view broke")
    if raised == "404":
        raise Http404
    if raised == "403":
        raise PermissionDenied
    return HttpResponse("answer", status=int(request.GET.get("status", 200)))


@grant(VIDEOS)
def videos(request: HttpRequest, video_id: str) -> HttpResponse:
    return answer_as_asked(request)


@grant(VIDEOS)
async def both(request: HttpRequest, video_id: int) -> HttpResponse:  # async, a converter
    return answer_as_asked(request)


@grant(POSTER, ttl=POSTER_TTL)
def poster(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a poster")


class Library(View):
    @method_decorator(grant(LIBRARY, **LIBRARY_TERMS))
    def get(self, request: HttpRequest, user_id: str) -> HttpResponse:
        return HttpResponse(f"library of {user_id}")


def imperative(request: HttpRequest, name: str) -> HttpResponse:
    response = answer_as_asked(request)
    grant_response(response, IMPERATIVE, request=request)  # URL parameters: the resolver's
    return response


@grant(course_media)
def courses(request: HttpRequest, course: str) -> HttpResponse:
    return HttpResponse(course)


def logout(request: HttpRequest) -> HttpResponse:
    return HttpResponse("bye")


@grant  # type: ignore[arg-type]  # the slip: without (resource), the view is the resource
def unparenthesized(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a page")


urlpatterns = [
    path("videos/<str:video_id>", videos),
    path("both/<int:video_id>", both),
    path("poster", poster),
    path("library/<str:user_id>", Library.as_view()),
    path("imperative/<str:name>", imperative),
    path("courses/<str:course>", courses),
    path("logout", logout),
    path("unparenthesized", unparenthesized),  # type: ignore[arg-type]
]


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> Iterator[None]:
    with configured_django(
        SECRET_KEY="test-secret",
        DEBUG=False,
        ALLOWED_HOSTS=[APP_HOST],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[MIDDLEWARE],
    ):
        yield


def fetch(path: str, *, method: str = "GET", cookie: str = "") -> Answer:
    client = Client(raise_request_exception=False, HTTP_HOST=APP_HOST)
    extra = {"HTTP_COOKIE": cookie} if cookie else {}
    response = client.generic(method, path, secure=True, REMOTE_ADDR=CLIENT_IP, **extra)
    return Answer(response.status_code, as_sent(response))


def as_sent(response: HttpResponse) -> list[tuple[str, str]]:
    """The headers as Django's handlers write them: the headers, then one per cookie."""
    cookies = [("Set-Cookie", m.output(header="").strip()) for m in response.cookies.values()]
    return [*response.items(), *cookies]


class TestDjangoGrants(GrantContract):
    @pytest.fixture
    def serve(self) -> Iterator[Callable[..., Fetch]]:
        with ExitStack() as stack:

            def serve(**config: Any) -> Fetch:
                stack.enter_context(override_settings(CLOUDFRONT_COOKIES=config))
                return fetch

            yield serve


# ---- Django's own -------------------------------------------------------------------------------
def test_the_middleware_and_the_decorators_share_one_core_per_settings() -> None:
    config = options(make_signer(), rules=[])
    with override_settings(CLOUDFRONT_COOKIES=config):
        first = CloudFrontCookieMiddleware(lambda request: HttpResponse())
        second = CloudFrontCookieMiddleware(lambda request: HttpResponse())
        assert first.core is second.core is shared_core()
    with override_settings(CLOUDFRONT_COOKIES=dict(config)):
        assert shared_core() is not first.core


def test_an_async_client_gets_the_async_view_s_grant() -> None:
    signer, clock = make_signer(), Clock()
    with override_settings(CLOUDFRONT_COOKIES=options(signer, rules=[], clock=clock)):
        client = AsyncClient(HTTP_HOST=APP_HOST)
        response = asyncio.run(client.get("/both/7", secure=True))
    granted = header_values(as_sent(response), "Set-Cookie")
    assert_grants(granted, signer, f"{MEDIA}/videos/7/a", f"{MEDIA}/videos/8/a", now=clock.now)


def test_a_grant_the_settings_cannot_serve_is_refused_at_decoration() -> None:
    with (
        override_settings(CLOUDFRONT_COOKIES=options(make_signer(), rules=[])),
        pytest.raises(ImproperlyConfigured, match=r"does not cover media\.example\.org"),
    ):
        grant("https://media.example.org/videos/*")
    with (
        override_settings(CLOUDFRONT_COOKIES=None),
        pytest.raises(ImproperlyConfigured, match="CLOUDFRONT_COOKIES: not set"),
    ):
        grant(POSTER)


def test_a_view_without_the_template_s_parameter_is_refused_at_decoration() -> None:
    with (
        override_settings(CLOUDFRONT_COOKIES=options(make_signer(), rules=[])),
        pytest.raises(ConfigurationError, match="video_id is not a parameter of the view"),
    ):

        @grant(VIDEOS)
        def watch(request: HttpRequest, name: str) -> HttpResponse:
            return HttpResponse(name)


def test_the_imperative_form_needs_the_request() -> None:
    with pytest.raises(ConfigurationError, match=r"pass it: grant.*request=request"):
        grant_response(HttpResponse(), POSTER)


def test_a_class_based_view_class_is_refused_naming_method_decorator() -> None:
    with (
        override_settings(CLOUDFRONT_COOKIES=options(make_signer(), rules=[])),
        pytest.raises(ConfigurationError, match=r"method_decorator\(grant\(...\), name='get'\)"),
    ):

        @grant(POSTER)
        class Poster(View):
            def get(self, request: HttpRequest) -> HttpResponse:
                return HttpResponse("a poster")


def test_the_decorator_without_its_resource_is_refused_naming_the_slip() -> None:
    with pytest.raises(ConfigurationError, match=r"did you write @cloudfront\.grant without"):

        @grant  # type: ignore[arg-type]
        def watch(request: HttpRequest, video_id: str) -> HttpResponse:
            return HttpResponse(video_id)

    # A view taking the request alone passes for a callable resource: Django then calls the
    # decorator with the request, which it refuses, saying why.
    client = Client(HTTP_HOST=APP_HOST)
    with (
        override_settings(CLOUDFRONT_COOKIES=options(make_signer(), rules=[])),
        pytest.raises(ConfigurationError, match=r"got a WSGIRequest where the view goes; did you"),
    ):
        client.get("/unparenthesized", secure=True)
