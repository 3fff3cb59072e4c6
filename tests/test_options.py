"""The options are one typed list: a type checker flags a misspelled option in an app's code,
``help()`` on every adapter lists them, and a misspelling at run time names the closest one."""

from __future__ import annotations

import os
import pydoc
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

from cfcookie_middleware.options import NAMES, check_names
from cfcookie_middleware.signing import ConfigurationError

ROOT = Path(__file__).resolve().parents[1]

# An app's code, as its author would write it, with one misspelled option per adapter.
APP = """\
from datetime import timedelta

from flask import Flask
from starlette.applications import Starlette

from cfcookie_middleware import CookieCore, Rule, Signer
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as AsgiMiddleware
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware as WsgiMiddleware

signer = Signer.from_env()
rules = [Rule("/videos/*", resource="https://media.example.com/videos/*")]
app = Starlette()
app.add_middleware(AsgiMiddleware, signer=signer, rules=rules, cookie_domian=".example.com")
app.add_middleware(AsgiMiddleware, signer=signer, rules=rules, max_age=timedelta(hours=1))
flask_app = Flask(__name__)
CloudFrontCookies(flask_app, signer=signer, rules=rules, samesight="strict")
CloudFrontCookies(signer=signer, rules=rules)
WsgiMiddleware(flask_app.wsgi_app, signer=signer, rules=rules, http_only=False)
CookieCore(signer=signer, rules=rules, refresh_margn=timedelta(minutes=5))
CookieCore(signer=signer, rules=rules, secure="yes")
"""


def test_mypy_strict_flags_a_misspelled_option_in_an_apps_code(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    # The package is installed in editable mode, through an import hook mypy does not follow.
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", ".cache", "app.py"]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in done.stdout.splitlines() if line.startswith("app.py:")]
    lines = {int(line.split(":")[1]) for line in errors if ": error:" in line}
    # Exactly the misspelled lines (and the wrong type), none of the right ones. Starlette types
    # add_middleware by the middleware's own parameters from 0.41 on; 0.40 lets line 14 pass.
    typed_add_middleware = Version(version("starlette")) >= Version("0.41")
    assert lines == {17, 19, 20, 21} | ({14} if typed_add_middleware else set()), done.stdout
    text = textwrap.dedent(done.stdout)
    if typed_add_middleware:
        assert 'Unexpected keyword argument "cookie_domian"' in text
        assert 'did you mean "cookie_domain"' in text
    assert 'did you mean "samesite"' in text
    assert 'Argument "secure" to "CookieCore" has incompatible type "str"' in text


@pytest.mark.parametrize(
    "adapter",
    [
        "cfcookie_middleware.core.CookieCore",
        "cfcookie_middleware.wsgi.CloudFrontCookieMiddleware",
        "cfcookie_middleware.asgi.CloudFrontCookieMiddleware",
        "cfcookie_middleware.flask.CloudFrontCookies",
        "cfcookie_middleware.django.CloudFrontCookieMiddleware",
    ],
)
def test_help_lists_every_option(adapter: str) -> None:
    shown = pydoc.render_doc(pydoc.locate(adapter), renderer=pydoc.plaintext)
    for name in NAMES:
        assert name in shown, name


def test_the_closest_option_is_named() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^cookie_pth: not an option; did you mean cookie_path\?$"
    ):
        check_names(["signer", "cookie_pth"])
    with pytest.raises(
        ConfigurationError, match=r"^Cookie_Domain: not an option; did you mean cookie_domain\?$"
    ):
        check_names(["Cookie_Domain"])
    with pytest.raises(
        ConfigurationError, match=r"^zzz: not an option; the options are signer, rules, "
    ):
        check_names(["zzz"])
    check_names(NAMES)
