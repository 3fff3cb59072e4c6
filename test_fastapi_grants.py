# test_fastapi_grants.py
from fastapi.testclient import TestClient
from fastapi_app import create_app

from cfcookie_middleware.testing import assert_cloudfront_cookies


def test_a_video_page_opens_the_video(cloudfront_signer):
    with TestClient(create_app(cloudfront_signer), base_url="https://www.example.com") as client:
        response = client.get("/videos/intro")
        missing = client.get("/videos/nope")
    assert_cloudfront_cookies(response, "https://media.example.com/videos/intro/720p.m3u8")
    assert_cloudfront_cookies(response, "https://media.example.com/videos/launch/a", allowed=False)
    assert missing.status_code == 404
    assert "CloudFront-" not in str(missing.headers)
