"""The Flask extension: ``CloudFrontCookies(app, ...)`` and ``init_app`` with options from
``app.config``, through Flask's own test client. It wraps ``app.wsgi_app``, so it sees the final
response, the ones Flask's error handlers make included."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import flask
import pytest
from conftest import VECTORS, import_error_without
from middleware_helpers import (
    BAD_CONFIGS,
    BASE_URL,
    CANNED_SET,
    CLOUDFRONT_NAMES,
    DOMAIN,
    MEDIA,
    T0,
    BadConfig,
    Clock,
    assert_grants,
    cloudfront_set_cookies,
    default_rules,
    header_values,
    make_signer,
    options,
    policy_expiry,
)
from werkzeug.exceptions import InternalServerError
from werkzeug.wrappers import Response as WerkzeugResponse

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.signing import ConfigurationError, Signer

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).parent.parent
PREFIX = "CLOUDFRONT_COOKIES_"


def flask_app(**config: Any) -> flask.Flask:
    """Routes for the default rules, one that aborts, one that breaks, and error handlers that
    answer with pages of their own."""
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="test", PROPAGATE_EXCEPTIONS=False, **config)

    @app.get("/videos/<path:name>")
    def video(name: str) -> flask.Response:
        response = flask.make_response(f"video {name}")
        response.set_cookie("session", "abc123", httponly=True)
        response.headers["X-Custom"] = "kept as is"
        response.headers["Cache-Control"] = "public, max-age=60, s-maxage=600"
        flask.g.member = flask.request.args.get("member") == "yes"
        return response

    @app.get("/videos/with-session")
    def with_session() -> str:
        flask.session["seen"] = True  # Flask itself adds "Vary: Cookie"
        return "session page"

    @app.get("/videos/broken")
    def broken() -> str:
        raise ZeroDivisionError("a bug in the view")

    @app.get("/users/<user_id>/library")
    def library(user_id: str) -> str:
        if user_id == "mallory":
            flask.abort(403)
        if user_id == "nobody":
            flask.abort(404)
        return f"library of {user_id}"

    @app.get("/poster")
    def poster() -> str:
        return "poster"

    @app.get("/logout")
    def logout() -> WerkzeugResponse:
        return flask.redirect("/")

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return "custom not found page", 404

    @app.errorhandler(InternalServerError)
    def server_error(error: Exception) -> tuple[str, int]:
        return "custom error page", 500

    return app


def get(app: flask.Flask, url: str, **kwargs: Any) -> Any:
    return app.test_client().get(url, base_url=kwargs.pop("base_url", BASE_URL), **kwargs)


def test_extension_appends_cookies_and_keeps_the_apps_headers() -> None:
    signer = make_signer()
    bare = get(flask_app(), "/videos/a.mp4").headers.to_wsgi_list()
    app = flask_app()
    CloudFrontCookies(app, **options(signer))
    sent = get(app, "/videos/a.mp4").headers.to_wsgi_list()

    def plain(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [h for h in headers if h[0].lower() not in ("cache-control", "vary")]

    assert plain(sent)[: len(plain(bare))] == plain(bare)  # the app's own, in order
    added = plain(sent)[len(plain(bare)) :]
    assert {name for name, _ in added} == {"Set-Cookie"}
    assert_grants([v for _, v in added], signer, f"{MEDIA}/videos/a.mp4", f"{MEDIA}/images/a")
    assert header_values(sent, "Cache-Control") == ["private, max-age=60"]
    assert header_values(sent, "Vary") == ["Cookie"]
    assert isinstance(app.extensions["cfcookie"], CookieCore)


def test_flask_s_own_vary_cookie_is_not_repeated() -> None:
    app = flask_app()
    CloudFrontCookies(app, **options(make_signer()))
    sent = get(app, "/videos/with-session").headers.to_wsgi_list()
    assert header_values(sent, "Vary") == ["Cookie"]
    assert len(cloudfront_set_cookies(header_values(sent, "Set-Cookie"))) == 3


def test_exact_url_resource_gets_canned_cookies() -> None:
    signer = make_signer()
    app = flask_app()
    CloudFrontCookies(app, **options(signer))
    response = get(app, "/poster")
    assert_grants(
        response.headers.getlist("Set-Cookie"),
        signer,
        f"{MEDIA}/poster.jpg",
        f"{MEDIA}/poster.png",
        expected_names=CANNED_SET,
    )


@pytest.mark.parametrize(
    ("url", "status", "body"),
    [
        ("/users/mallory/library", 403, None),  # abort(403): Werkzeug's page
        ("/users/nobody/library", 404, b"custom not found page"),  # abort(404), own handler
        ("/videos/broken", 500, b"custom error page"),  # an exception, own 500 handler
        ("/videos/", 404, b"custom not found page"),  # a rule's path without a Flask route
    ],
)
def test_error_responses_hand_out_nothing(url: str, status: int, body: bytes | None) -> None:
    app = flask_app()
    CloudFrontCookies(app, **options(make_signer()))
    response = get(app, url)
    assert response.status_code == status
    assert body is None or response.data == body
    assert not cloudfront_set_cookies(response.headers.getlist("Set-Cookie"))
    assert "private" not in response.headers.get("Cache-Control", "")


def test_when_can_use_flask_g_and_the_flask_request() -> None:
    """Werkzeug calls start_response while the app context is still pushed, so ``when`` can
    read what the view stored in ``flask.g``; ``RequestView.native`` is the ``flask.Request``."""
    natives: list[object] = []

    def members_only(view: RequestView) -> bool:
        natives.append(view.native)
        return bool(flask.g.get("member"))

    signer = make_signer()
    app = flask_app()
    CloudFrontCookies(app, **options(signer, when=members_only))
    refused = get(app, "/videos/a.mp4?member=no")
    assert not cloudfront_set_cookies(refused.headers.getlist("Set-Cookie"))
    allowed = get(app, "/videos/a.mp4?member=yes")
    assert_grants(allowed.headers.getlist("Set-Cookie"), signer, f"{MEDIA}/videos/a", None)
    assert all(isinstance(native, flask.Request) for native in natives)
    assert natives[-1].args["member"] == "yes"  # type: ignore[attr-defined]


def test_init_app_reads_config_and_a_keyword_wins() -> None:
    signer = make_signer()
    app = flask_app(
        **{
            f"{PREFIX}SIGNER": signer,
            f"{PREFIX}RULES": default_rules(),
            f"{PREFIX}COOKIE_DOMAIN": DOMAIN,
            f"{PREFIX}SAMESITE": "strict",
            f"{PREFIX}MAX_AGE": 600,
        }
    )
    extension = CloudFrontCookies(samesite="lax")
    extension.init_app(app)
    cookies = cloudfront_set_cookies(get(app, "/videos/a.mp4").headers.getlist("Set-Cookie"))
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    for cookie in cookies.values():
        assert cookie.attributes["samesite"] == "Lax"  # the keyword, not the config's Strict
        assert cookie.attributes["max-age"] == "600"  # from config
        assert cookie.attributes["domain"] == DOMAIN  # from config
    assert app.extensions["cfcookie"].cookie_domain == DOMAIN
    assert not hasattr(extension, "app")  # one extension object may serve many apps


def test_signer_left_out_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Django middleware does: no signer option or config key, so Signer.from_env()."""
    for name in ("CLOUDFRONT_KEY_PAIR_ID", "CLOUDFRONT_PRIVATE_KEY", "CLOUDFRONT_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    config = {k: v for k, v in options(make_signer()).items() if k != "signer"}
    with pytest.raises(ConfigurationError, match="CLOUDFRONT_KEY_PAIR_ID: not set"):
        CloudFrontCookies(flask_app(), **config)
    monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", "K1TESTKEY")
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY_FILE", str(VECTORS / "test-rsa-key.pem"))
    app = flask_app()
    CloudFrontCookies(app, **config)
    response = get(app, "/videos/a.mp4")
    assert_grants(
        response.headers.getlist("Set-Cookie"), Signer.from_env(), f"{MEDIA}/videos/a", None
    )


def test_one_extension_many_apps() -> None:
    signer = make_signer()
    extension = CloudFrontCookies(signer=signer, rules=default_rules())
    first = flask_app(**{f"{PREFIX}COOKIE_DOMAIN": DOMAIN})
    second = flask_app(**{f"{PREFIX}COOKIE_DOMAIN": "media.example.com"})
    extension.init_app(first)
    extension.init_app(second)
    assert first.extensions["cfcookie"] is not second.extensions["cfcookie"]
    for app, domain in ((first, DOMAIN), (second, "media.example.com")):
        base = "https://media.example.com" if app is second else BASE_URL
        response = get(app, "/videos/a.mp4", base_url=base)
        assert_grants(
            response.headers.getlist("Set-Cookie"), signer, f"{MEDIA}/videos/a", None, domain=domain
        )


def test_misuse_of_the_extension_is_refused() -> None:
    signer = make_signer()
    with pytest.raises(
        ConfigurationError, match=r"^cookie_domian: not an option; did you mean cookie_domain[?]$"
    ):
        CloudFrontCookies(flask_app(), cookie_domian=DOMAIN, **options(signer))
    with pytest.raises(
        ConfigurationError,
        match=rf"^app.config\[{PREFIX}COOKIE_DOMIAN\]: not an option; "
        rf"did you mean app.config\[{PREFIX}COOKIE_DOMAIN\][?]$",
    ):
        CloudFrontCookies(flask_app(**{f"{PREFIX}COOKIE_DOMIAN": DOMAIN}), **options(signer))
    app = flask_app()
    extension = CloudFrontCookies(app, **options(signer))
    with pytest.raises(ConfigurationError, match="already"):
        extension.init_app(app)


def test_a_returning_visitor_gets_nothing_until_near_expiry() -> None:
    """Flask's test client keeps cookies as a browser does. Its jar matches a Domain only when
    written without the legacy leading dot (browsers ignore the dot), hence ``example.com``."""
    signer, clock = make_signer(), Clock()
    app = flask_app()
    CloudFrontCookies(app, **options(signer, cookie_domain="example.com", clock=clock))
    client = app.test_client()
    first = client.get("/videos/a.mp4", base_url=BASE_URL).headers.getlist("Set-Cookie")
    assert_grants(first, signer, f"{MEDIA}/videos/a", None, now=clock.now, domain="example.com")
    clock.now = T0 + 6 * 60
    again = client.get("/videos/b.mp4", base_url=BASE_URL)
    assert not cloudfront_set_cookies(again.headers.getlist("Set-Cookie"))
    clock.now = T0 + 35 * 60
    refreshed = client.get("/videos/c.mp4", base_url=BASE_URL).headers.getlist("Set-Cookie")
    values = assert_grants(
        refreshed, signer, f"{MEDIA}/videos/c", None, now=clock.now, domain="example.com"
    )
    assert policy_expiry(values) == T0 + 35 * 60 + 3600


@pytest.mark.parametrize(
    ("url", "inside", "outside"),
    [
        ("/users/alice/library", "users/alice/a.mp3", "users/bob/a.mp3"),
        ("/users/%2A/library", "users/%2A/a.mp3", "users/alice/a.mp3"),
    ],
)
def test_each_user_gets_a_policy_for_their_own_prefix(url: str, inside: str, outside: str) -> None:
    signer = make_signer()
    app = flask_app()
    CloudFrontCookies(app, **options(signer))
    response = get(app, url)
    assert_grants(
        response.headers.getlist("Set-Cookie"), signer, f"{MEDIA}/{inside}", f"{MEDIA}/{outside}"
    )


def test_clear_on_a_logout_redirect() -> None:
    app = flask_app()
    CloudFrontCookies(app, **options(make_signer(), clear_on="/logout"))
    response = get(app, "/logout")
    assert response.status_code == 302
    cleared = cloudfront_set_cookies(response.headers.getlist("Set-Cookie"))
    assert set(cleared) == set(CLOUDFRONT_NAMES)
    for cookie in cleared.values():
        assert (cookie.value, cookie.attributes["max-age"]) == ("", "0")
        assert (cookie.attributes["domain"], cookie.attributes["path"]) == (DOMAIN, "/")


def test_a_host_outside_the_cookie_domain_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    app = flask_app()
    CloudFrontCookies(app, **options(make_signer()))
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for i in range(10):
            response = get(app, f"/videos/{i}.mp4", base_url="https://app.example.org")
            assert cloudfront_set_cookies(response.headers.getlist("Set-Cookie"))
    warned = [r for r in caplog.records if "not inside cookie_domain" in r.getMessage()]
    assert len(warned) == 1, caplog.text


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda case: case.id)
def test_configuration_errors_surface_at_init_app(case: BadConfig) -> None:
    """Keyword or config, a bad option fails while the app is being set up, and leaves the
    app as it was: not half-wrapped, no ``extensions["cfcookie"]``."""
    signer = make_signer()
    if case.stage == "rule":
        with pytest.raises(ConfigurationError, match=case.match):
            case.make(signer)  # the Rule itself refuses
        return
    by_keyword = flask_app()
    with pytest.raises(ConfigurationError, match=case.match):
        CloudFrontCookies(by_keyword, **case.make(signer))
    configured = {PREFIX + name.upper(): value for name, value in case.make(signer).items()}
    by_config = flask_app(**configured)
    wsgi_app = by_config.wsgi_app
    with pytest.raises(ConfigurationError, match=case.match):
        CloudFrontCookies().init_app(by_config)
    for app in (by_keyword, by_config):
        assert "cfcookie" not in app.extensions
    assert by_config.wsgi_app == wsgi_app


def test_importing_without_flask_names_the_extra() -> None:
    message = import_error_without("cfcookie_middleware.flask", "flask")
    assert 'pip install "cfcookie-middleware[flask]"' in message


@pytest.mark.parametrize(("method", "status"), [("OPTIONS", 200), ("HEAD", 200), ("POST", 405)])
def test_only_a_get_earns_cookies(method: str, status: int) -> None:
    """Flask answers OPTIONS itself (200) without running the view, runs the GET view for a
    HEAD, and answers 405 to a POST: none of them earns cookies by default."""
    app = flask_app()
    CloudFrontCookies(app, **options(make_signer()))
    reply = app.test_client().open("/users/alice/library", method=method, base_url=BASE_URL)
    assert reply.status_code == status
    assert not cloudfront_set_cookies(reply.headers.getlist("Set-Cookie"))
    assert cloudfront_set_cookies(get(app, "/users/alice/library").headers.getlist("Set-Cookie"))


def test_methods_from_the_config() -> None:
    app = flask_app(CLOUDFRONT_COOKIES_METHODS=["GET", "HEAD"])
    CloudFrontCookies(app, **options(make_signer()))
    head = app.test_client().head("/users/alice/library", base_url=BASE_URL)
    assert cloudfront_set_cookies(head.headers.getlist("Set-Cookie"))
