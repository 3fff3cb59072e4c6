# test_starlette_grants.py
from starlette.testclient import TestClient
from starlette_app import create_app

from cfcookie_middleware.testing import assert_cloudfront_cookies


def test_an_album_opens_its_own_files(cloudfront_signer):
    with TestClient(create_app(cloudfront_signer), base_url="https://www.example.com") as client:
        response = client.get("/albums/7")
    assert_cloudfront_cookies(response, "https://media.example.com/albums/holiday-2024/1.jpg")
