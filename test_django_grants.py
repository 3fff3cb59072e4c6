# test_django_grants.py
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "grants_settings")

import django

django.setup()

from django.conf import settings
from django.test import Client, override_settings

from cfcookie_middleware.testing import assert_cloudfront_cookies


def test_a_course_page_opens_the_course(cloudfront_signer):
    options = {**settings.CLOUDFRONT_COOKIES, "signer": cloudfront_signer}
    with override_settings(CLOUDFRONT_COOKIES=options):
        response = Client(HTTP_HOST="www.example.com").get("/courses/python-101", secure=True)
    assert_cloudfront_cookies(response, "https://media.example.com/courses/python-101/1.mp4")
