"""The example's routes; the middleware's rules (``cfcookie_middleware.demo.site``) name the
same paths."""

from __future__ import annotations

from django.urls import path

from cfcookie_middleware.demo.site import REFRESH_PATH
from examples.django_app import views

urlpatterns = [
    path("", views.home),
    path("login", views.login),
    path("videos", views.videos),
    path(REFRESH_PATH.lstrip("/"), views.refresh),
    path("users/<str:user_id>/library", views.library),
    path("logout", views.logout),
]
