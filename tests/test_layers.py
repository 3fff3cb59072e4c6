"""Dependencies point one way: adapters -> core -> rules, cookies, caching, signing. Nothing the
core uses, and neither the doctor nor the CLI, reaches back into the core."""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

import cfcookie_middleware

PACKAGE = Path(cfcookie_middleware.__file__).parent
# Modules that may import the core: the adapters, and the demo and testing helpers built on them.
ABOVE_CORE = {"wsgi", "asgi", "starlette", "flask", "quart", "extension", "django", "__init__"}


def imported(module: str) -> set[str]:
    """The modules ``module`` imports, type-only and function-level imports included (``from
    package import module`` counts as ``package.module``)."""
    names = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ABOVE_CORE | {"core"})
)
def test_no_arrow_points_back_to_the_core(module: str) -> None:
    assert "cfcookie_middleware.core" not in imported(module)


def test_request_view_keeps_its_public_names() -> None:
    from cfcookie_middleware.request import RequestView

    assert cfcookie_middleware.RequestView is RequestView
    assert importlib.import_module("cfcookie_middleware.core").RequestView is RequestView


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("CLOUDFRONT_COOKIES", "cookies"),
        ("MAX_COOKIE_BYTES", "cookies"),
        ("check_cookie_domain", "cookies"),
        ("domain_covers", "cookies"),
        ("registrable_domain", "cookies"),
        ("check_signer_works", "signing"),
    ],
)
def test_names_that_left_the_core_warn_for_one_release(name: str, home: str) -> None:
    core = importlib.import_module("cfcookie_middleware.core")
    with pytest.warns(DeprecationWarning, match=f"cfcookie_middleware.{home}.{name}"):
        moved = getattr(core, name)
    assert moved is getattr(importlib.import_module(f"cfcookie_middleware.{home}"), name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(core, "no_such_name")


def test_route_is_internal_and_its_old_name_warns_for_one_release() -> None:
    """Adapters talk to the core through ``CookieCore.start`` and its ``Pending``; the old
    public ``Route`` still resolves, with a warning naming its replacement."""
    core = importlib.import_module("cfcookie_middleware.core")
    assert "Route" not in core.__all__
    with pytest.warns(DeprecationWarning, match=r"CookieCore\.start"):
        route = core.Route
    assert route is core._Route
