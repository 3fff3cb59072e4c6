# flask_app.py
import flask

from cfcookie_middleware import Signer
from cfcookie_middleware.flask import CloudFrontCookies

cloudfront = CloudFrontCookies(rules=[], cookie_domain=".example.com")
LIBRARIES = {"alice", "bob"}  # your own records


def create_app(signer: Signer | None = None) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/users/<user_id>/library")
    @cloudfront.grant("https://media.example.com/users/{user_id}/*", cookie_path="/users/")
    def library(user_id: str) -> str:
        if user_id not in LIBRARIES:
            flask.abort(404)  # not a 2xx: no cookies
        return f"{user_id}'s library"

    if signer is not None:  # else Signer.from_env()
        app.config["CLOUDFRONT_COOKIES_SIGNER"] = signer
    cloudfront.init_app(app)
    return app
