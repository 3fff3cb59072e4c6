# test_flask_grants.py
from flask_app import create_app

from cfcookie_middleware.testing import assert_cloudfront_cookies

MEDIA = "https://media.example.com"


def test_the_library_opens_its_own_files(cloudfront_signer):
    client = create_app(cloudfront_signer).test_client()
    response = client.get("/users/alice/library", base_url="https://www.example.com")
    assert_cloudfront_cookies(response, f"{MEDIA}/users/alice/holiday.mp4")
    assert_cloudfront_cookies(response, f"{MEDIA}/users/bob/match.mp4", allowed=False)
    assert response.headers["Cache-Control"] == "private"


def test_an_unknown_library_hands_out_nothing(cloudfront_signer):
    client = create_app(cloudfront_signer).test_client()
    response = client.get("/users/carol/library", base_url="https://www.example.com")
    assert response.status_code == 404
    assert "CloudFront-" not in str(response.headers)
