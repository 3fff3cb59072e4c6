# grants_urls.py
from django.http import HttpResponse
from django.urls import path

from cfcookie_middleware.django import grant


@grant("https://media.example.com/courses/{course}/*", cookie_path="/courses/")
async def course(request, course):
    return HttpResponse(f"the {course} course")


urlpatterns = [path("courses/<slug:course>", course)]
